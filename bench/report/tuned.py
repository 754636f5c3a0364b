"""The report of a tuned sweep ([tune], bench.experiment.tuning): the values each model chose on the tuning split,
its test-split table at the defaults beside the one at its choice, whether the ranking changes, and the
sensitivity of the tuning metric to each tuned setting."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd

from bench.core.metrics import declared
from bench.core.plotting import PANEL_WIDTH, PANELS_PER_ROW, headline, tidy_panels, pyplot, save_png_and_pdf
from bench.report.tables import MEAN_ROW, cell_table, markdown, natural, render_table, seeds_caption
from bench.signals.library import SignalLibrary
from bench.core.status import OK
from bench.experiment.store import read_results
from bench.experiment.plan import expand
from bench.experiment.spec import parse_spec
from bench.experiment.tuning import (CHOSEN_FILE, SPEC_COPY, TEST_DIR, TUNING_DIR, Choice, choose, chosen_spec,
                                tuned_settings)


def is_tuned(path: Path) -> bool:
    """Whether ``path`` is the folder of a tuned sweep (it holds chosen.json and the test split)."""
    return (path / CHOSEN_FILE).is_file() and (path / TEST_DIR).is_dir()


def write_tuned_report(run: Path, out: Path, command: str, library: SignalLibrary, notes: str | None = None) -> Path:
    """README.md with the chosen values, the default and tuned tables of the main metric on the test split,
    the ranking under each, and sensitivity figures; tables also as CSV and LaTeX; ``notes`` under the title."""
    spec = parse_spec((run / SPEC_COPY).read_text(), str(run / SPEC_COPY), library)
    choices = choose(spec, read_results(run / TUNING_DIR))  # from the tuning rows, as the sweep chose
    test = read_results(run / TEST_DIR)
    test = test[test["status"] == OK]
    defaults = {cell.key: cell.model.label for cell in expand(replace(spec, tune=None))}
    tuned_columns = tuned_settings(spec)
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"# Tuned report: {spec.name}", "", *([notes.strip(), ""] if notes else []), f"Made with `{command}`; "
             f"every table, figure and significance test of the test split's rows: [test/](test/README.md).", "",
             f"Each model's settings were chosen per task by the mean of the task's metric over the tuning split "
             f"(seeds {', '.join(map(str, spec.tune.seeds))}; signals: "
             f"{', '.join(s for g in (spec.tune.tasks or spec.tasks) for s in g.signals)}), from those rows alone; "
             f"the test split (seeds {', '.join(map(str, spec.seeds))}; signals: "
             f"{', '.join(s for g in spec.tasks for s in g.signals)}) was then trained at each choice and at the "
             f"defaults.", "", "## Chosen values", "", _chosen_table(choices, tuned_columns), ""]
    for task in dict.fromkeys(choice.task for choice in choices):
        metric = next(choice.metric for choice in choices if choice.task == task)
        label = declared(metric)
        rows = test[test["task"] == task]
        default = _by_model(rows, defaults, tuned_columns)
        # choice by choice: two variants of one model (siren = [{}, {w0 = 60.0}]) may choose the same cell
        tuned = pd.concat([_by_model(rows, {cell.key: choice.model for cell in expand(chosen_spec(spec, choice))},
                                     tuned_columns) for choice in choices if choice.task == task])
        ranks = {}
        for name, part in (("default", default), ("tuned", tuned)):
            cells = cell_table(part, metric)
            stem = f"table_{name}_{task}_{metric}"
            title = f"{task}: {label.label} on the test split, {'each model at its choice' if name == 'tuned' else 'defaults'}"
            caption = f"{seeds_caption(cells)}; best per row in bold."
            for ext, fmt in (("md", "markdown"), ("csv", "csv"), ("tex", "latex")):
                (out / f"{stem}.{ext}").write_text(render_table(cells, fmt, metric, f"{title}. {caption}") + "\n")
            means = cells[cells["signal"] == MEAN_ROW].set_index("model_spec")["mean"]
            ranks[name] = list(means.sort_values(ascending=not label.higher_is_better).index)
            lines += [f"## {title}", "", (out / f"{stem}.md").read_text(), caption, ""]
        same = ranks["default"] == ranks["tuned"]
        lines += [f"## {task}: ranking by the mean over the test signals", "",
                  f"- defaults: {' > '.join(ranks['default'])}", f"- tuned: {' > '.join(ranks['tuned'])}", "",
                  "Tuning leaves the ranking as it is." if same else "**Tuning changes the ranking.**", ""]
    for png in _sensitivity(choices, tuned_columns, out):
        lines += [f"![{png}]({png})", ""]
    readme = out / "README.md"
    readme.write_text("\n".join(lines))
    return readme


def _by_model(rows: pd.DataFrame, models: dict[str, str], tuned_columns: list[str]) -> pd.DataFrame:
    """The rows of the cells in ``models`` (cell key -> the model's label in the spec's [models]), labelled by
    that label and the tuned settings made one value: a table's column is a model of the spec, and two
    variants of one scheme (``siren = [{}, {w0 = 60.0}]``) are two columns, tuned or not."""
    kept = rows[rows["cell_key"].isin(models)]
    return kept.assign(model_spec=kept["cell_key"].map(models), **{column: "chosen" for column in tuned_columns})


def _chosen_table(choices: list[Choice], tuned_columns: list[str]) -> str:
    table = pd.DataFrame([{"model": c.model, "task": c.task, "chosen": c.chosen.label,
                           **{column: getattr(c.train, column) for column in tuned_columns},
                           f"tuning mean {c.metric}": c.score} for c in choices])
    return markdown(table, index=False, floatfmt=".4g")


def _sensitivity(choices: list[Choice], tuned_columns: list[str], out: Path) -> list[str]:
    """The tuning metric against each tuned setting, a panel per model variant, a line per task (the other
    tuned settings at their tried values averaged over); returns the PNG names."""
    tried = pd.DataFrame([row | {"task": c.task, "metric": c.metric} for c in choices for row in c.scores])
    tried = tried[tried["mean"].abs() != float("inf")]
    plt, sns = pyplot()
    made = []
    for column in tuned_columns:
        # a panel per model variant (a line each in one panel would need a legend of every variant, in colours
        # one cannot tell apart), a colour per task
        rows = tried.assign(scored=tried["task"] + ": mean " + tried["metric"].map(lambda m: declared(m).label))
        logx = (rows[column] > 0).all() and rows[column].max() / rows[column].min() >= 8
        panels = sorted(rows["model_spec"].unique(), key=natural)
        grid = sns.relplot(rows, x=column, y="mean", hue="scored", col="model_spec", col_order=panels,
                           col_wrap=min(PANELS_PER_ROW, len(panels)), kind="line", marker="o", errorbar=None,
                           height=2.6, aspect=PANEL_WIDTH / 2.6, facet_kws={"sharey": False})
        grid.set(xscale="log" if logx else "linear", xlabel=column, ylabel="mean on the tuning split")
        tidy_panels(grid)
        grid.legend.set_title("task: metric")
        headline(grid.figure, f"sensitivity to {column}: each model's tuning-split mean at each tried value "
                             "(the other tuned settings averaged over; diverged settings left out)")
        made += save_png_and_pdf(grid.figure, out, f"sensitivity_{column}")
    return [name for name in made if name.endswith(".png")]
