"""Report figures (seaborn, PNG and PDF): a metric per signal, against each swept setting, its training
curves, the NTK energy above the centroid, and the training throughput."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bench.core.columns import CURVE_STEPS, curve_column, param_column, param_name
from bench.core.plotting import pyplot, save_png_and_pdf
from bench.core.metrics import declared
from bench.report.tables import natural, with_setting
from bench.report.sections import Report, metric_section, pictures, report_section

AXIS_NAMES = {"n_samples": "samples in the clip", "width": "hidden width", "layers": "hidden layers",
              "n_params": "trainable parameters"}
PLAIN_AXES = ("width", "layers", "n_samples")  # settings a figure may put on its x axis


def without_param(spec: str, key: str) -> str:
    """A model spec's label without parameter ``key`` ("siren2:S0=0.1,decay=0.9" -> "siren2:decay=0.9")."""
    name, _, params = spec.partition(":")
    kept = [item for item in filter(None, params.split(",")) if item.partition("=")[0] != key]
    return name + (":" + ",".join(kept) if kept else "")


def swept(ok: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Columns that a run varied on purpose, with the rows to plot against each: width, layers and the
    signal length when they take several values; an init parameter when a model was given several values
    of it in its spec (``siren2:S0=0.01``, ``siren2:S0=0.1``), with the rows of those models, its values as
    numbers (a parameter stored as text beside another scheme's text values is plotted when every value of
    those rows is a number, and left out when one is a word: it is no axis)."""
    found = {c: ok for c in PLAIN_AXES if c in ok and ok[c].nunique() > 1}
    if "param_budget" in ok and ok["param_budget"].nunique() > 1:  # budgets: against the exact count, not the width
        found = {"n_params": ok} | {c: rows for c, rows in found.items() if c != "width"}
    given: dict[str, dict[str, set]] = {}
    for spec in ok["model_spec"].unique():
        name, _, params = spec.partition(":")
        for item in filter(None, params.split(",")):
            key, _, value = item.partition("=")
            given.setdefault(key, {}).setdefault(name, set()).add(value)
    for key, models in sorted(given.items()):
        varied = [name for name, values in models.items() if len(values) > 1]
        column = param_column(key)
        rows = ok[ok["model"].isin(varied)]
        values = pd.to_numeric(rows[column], errors="coerce") if varied and column in rows else None
        if values is not None and values.notna().all():
            found[column] = rows.assign(**{column: values})
    return found


def network_families(models) -> dict[str, str]:
    """Each model name -> the names (among ``models``) of those whose plan builds the same network, and so
    train at the same speed (a model no longer registered is a family of its own)."""
    from bench import learned  # noqa: F401  (the learned schemes' networks too)
    from bench.models import load_builtin_models

    registry = {entry.name: entry for entry in load_builtin_models()}
    plan = {name: registry[name].meta["plan"] if name in registry else name for name in models}
    return {name: ", ".join(sorted(other for other in models if plan[other] == plan[name])) for name in models}


def few_seeds(ok: pd.DataFrame) -> str:
    """A figure title's warning when a band rests on fewer than 3 seeds."""
    fewest = with_setting(ok).groupby(["setting", "model_spec"])["seed"].nunique().min()
    return f" from as few as {fewest} seeds" if fewest < 3 else ""


def throughput_figure(results: pd.DataFrame, out: Path) -> list[str]:
    """Member-steps per second of each ensemble trained (members x steps/s), one bar per ensemble size and
    network family (the models that shared ensembles) for each problem (task, points, layers x width);
    returns the PNG name. Members of one ensemble share its rate, so they make one bar, not one each."""
    timed = results[results["steps_per_s"].notna()] if "steps_per_s" in results else results.iloc[:0]
    if not len(timed):
        return []
    points = timed["n_samples"] if "n_samples" in timed else pd.Series(np.nan, index=timed.index)
    if "height_px" in timed:
        points = points.fillna(timed["height_px"] * timed["width_px"])
    if "n_kept" in timed:  # inpaint tasks train on their kept points
        points = timed["n_kept"].fillna(points)
    keys = ["task", "signal", "width", "layers", "ensemble_size", "steps_per_s"]
    timed = timed.assign(points=points, problem=timed["task"] + ", " + points.map("{:,.0f} points".format)
                         + ", " + timed["layers"].astype(str) + " x " + timed["width"].astype(str))
    timed = timed.assign(family=timed["model"].map(network_families(timed["model"].unique())))
    ensembles = timed.drop_duplicates(keys).copy()
    ensembles["member_steps_per_s"] = ensembles["ensemble_size"] * ensembles["steps_per_s"]
    ensembles["network"] = ensembles["family"] + " x" + ensembles["ensemble_size"].astype(str)
    plt, sns = pyplot()
    problems = sorted(ensembles["problem"].unique(), key=natural)
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(problems)), 4))
    sns.barplot(ensembles, x="problem", y="member_steps_per_s", hue="network", order=problems,
                hue_order=sorted(ensembles["network"].unique(), key=natural), errorbar=None, ax=ax)
    ax.set(xlabel="", ylabel="member-steps/s (mean over ensembles)",
           title="training throughput per problem (task, points, layers x width),\n"
                 "by network family and ensemble size (x N members)")
    ax.legend(title="models x ensemble size", fontsize=7)
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1, 1))
    ax.tick_params(axis="x", rotation=20)
    fig.tight_layout()
    return save_png_and_pdf(fig, out, "throughput")[:1]


def figures(ok: pd.DataFrame, metric: str, out: Path) -> list[str]:
    """Write the figures of ``metric`` this data supports; returns their PNG file names. No figure pools
    settings that vary: signals (with their varying settings, see ``with_setting``) are x positions or
    panels."""
    plt, sns = pyplot()
    models = sorted(ok["model_spec"].unique())
    ok = with_setting(ok)
    settings = sorted(ok["setting"].unique(), key=natural)
    label = declared(metric).label
    made = []

    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(settings) * len(models) / 3), 4))
    sns.barplot(ok, x="setting", y=metric, hue="model_spec", order=settings, hue_order=models, errorbar=None,
                ax=ax, alpha=0.7)
    sns.stripplot(ok, x="setting", y=metric, hue="model_spec", order=settings, hue_order=models, dodge=True,
                  ax=ax, palette="dark:k", size=3, jitter=False, legend=False)  # no jitter: deterministic files
    ax.set(title=f"{label} per signal, {declared(metric).direction} is better (bars: mean over seeds; dots: seeds)",
           ylabel=label, xlabel="")
    ax.legend(title="model")
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    made += save_png_and_pdf(fig, out, f"{metric}_per_signal")

    for column, subset in swept(ok).items():
        name = param_name(column) or column
        # one line per model spec but the swept value, one panel per setting but the swept one: nothing pooled
        varied = (column, "param_budget", "width") if column == "n_params" else (column,)  # one axis, three names
        subset = with_setting(subset, leave_out=varied).assign(
            line=subset["model_spec"].map(lambda spec: without_param(spec, name)) if name != column
            else subset["model_spec"])
        panels = sorted(subset["setting"].unique(), key=natural)
        grid = sns.relplot(subset, x=column, y=metric, hue="line", hue_order=sorted(subset["line"].unique()),
                           col="setting", col_order=panels, col_wrap=min(4, len(panels)), kind="line",
                           errorbar=("ci", 95), marker="o", seed=0, n_boot=1000, height=3.2, aspect=1.1,
                           facet_kws={"sharey": False})
        grid.set_titles("{col_name}")
        logx = (subset[column] > 0).all() and subset[column].max() / subset[column].min() >= 8
        grid.set(xscale="log" if logx else "linear", xlabel=AXIS_NAMES.get(name, name), ylabel=label)
        grid.legend.set_title("model")
        grid.figure.suptitle(f"{label} versus {AXIS_NAMES.get(name, name)}, {declared(metric).direction} is better "
                             f"(band: 95% CI over seeds{few_seeds(ok)})", y=1.03)
        made += save_png_and_pdf(grid.figure, out, f"{metric}_vs_{name}")

    curve = curve_column(metric)
    if curve in ok and ok[curve].notna().any():
        # a fresh index: the exploded points of a row share its label, and seaborn, dropping an exact fit's inf
        # points, realigns by label
        long = ok[["model_spec", "setting", "seed", CURVE_STEPS, curve]].explode([CURVE_STEPS, curve], ignore_index=True)
        long = long.astype({CURVE_STEPS: int, curve: float})
        one = len(settings) == 1  # a single panel gets the room of a row of panels, not a narrow box
        grid = sns.relplot(long, x=CURVE_STEPS, y=curve, hue="model_spec", hue_order=models, col="setting",
                           col_order=settings, col_wrap=min(4, len(settings)), kind="line", errorbar=("ci", 95),
                           seed=0, n_boot=200, height=3.6 if one else 2.8, aspect=1.8 if one else 1.2,
                           facet_kws={"sharey": False})
        grid.set(xlabel="step", ylabel=label)
        grid.set_titles("{col_name}")
        grid.legend.set_title("model")
        grid.figure.suptitle(f"training curves of {label} per signal, {declared(metric).direction} is better "
                             f"(line: mean over seeds; band: 95% CI{few_seeds(ok)})", y=1.02)
        made += save_png_and_pdf(grid.figure, out, f"{metric}_training_curves")

    return [name for name in made if name.endswith(".png")]


def ntk_figures(ok: pd.DataFrame, out: Path) -> list[str]:
    """Per NTK stage recorded (init, final): the share of NTK energy above the target centroid per model
    (log scale; bars: mean over members; whiskers: 95% CI); returns the PNG names."""
    plt, sns = pyplot()
    made = []
    for stage in ("init", "final"):
        column = f"ntk_{stage}_frac_above_centroid"
        if column in ok and ok[column].notna().any():
            fig, ax = plt.subplots(figsize=(6, 4))
            sns.barplot(ok, x="model_spec", y=column, order=sorted(ok["model_spec"].unique()), errorbar=("ci", 95),
                        ax=ax, seed=0)
            ax.set(yscale="log", xlabel="", ylabel="share of NTK energy above the target centroid",
                   title=f"NTK spectral energy above the centroid ({stage})")
            ax.tick_params(axis="x", rotation=30)
            fig.tight_layout()
            made += save_png_and_pdf(fig, out, f"ntk_{stage}_energy_fraction")
    return [name for name in made if name.endswith(".png")]


@metric_section(order=40)
def metric_figures(rows: pd.DataFrame, metric: str, report: Report) -> list[str]:
    return [line for png in figures(rows, metric, report.out) for line in (f"![{png}]({png})", "")]


@report_section(order=40)
def ntk_energy(report: Report) -> list[str]:
    pngs = ntk_figures(report.ok, report.out)
    return ["## NTK spectral energy", "", *pictures(pngs)] if pngs else []


@report_section(order=50)
def throughput(report: Report) -> list[str]:
    return [line for png in throughput_figure(report.results, report.out)
            for line in ("## Throughput", "", f"![{png}]({png})", "")]
