"""Report tables: mean ± std of a metric per (setting, model) as Markdown, CSV and LaTeX, and the paired
significance of each model against a baseline (scipy.stats bootstrap and Wilcoxon). What each metric
measures, its label and which way is better come from its declaration (``bench.core.metrics.Metric``)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.stats

from bench.core.columns import SPEED, best_column, curve_column, option_name, role_of, table_settings
from bench.core.errors import UsageError, did_you_mean
from bench.core.metrics import METRICS, Conversion, Metric, declared
from bench.report.time_to_quality import is_curve
from bench.core.status import OK
from bench.training.config import SETTINGS, TRAIN_PARAMS

MEAN_ROW = "mean over signals"  # the label of a table's last row


def with_setting(rows: pd.DataFrame, leave_out: tuple[str, ...] = ()) -> pd.DataFrame:
    """``rows`` plus a ``setting`` column: the signal, and each setting or target column (``bench.core.columns``;
    but ``leave_out``) that takes several values for one signal (e.g. "camera task=poisson-lapl", "arch
    width=256"; a column that only differs between signals, such as a clip's length, says nothing new); then
    each task option that still splits rows of one setting, so that cells that differ in any option are
    never pooled (an option the columns before already tell apart, e.g. max_samples beside n_samples, adds
    nothing to the label). Rows of two versions of a target (another file content, or rows from before
    ``bench.experiment.plan.TARGET_REVISION`` 2, which lack those columns) are never pooled either."""
    if "param_budget" in rows and rows["param_budget"].notna().any():  # the width follows from budget and model
        leave_out = (*leave_out, "width")
    rows = rows.assign(**{name: rows[name].where(rows[name].notna(), TRAIN_PARAMS[name].default)  # a setting
                          for name in SETTINGS if name in rows})  # added later: older rows lack it, at its default
    varying = [c for c in table_settings(SETTINGS) if c not in leave_out
               and c in rows and text(rows[c]).groupby(rows["signal"]).nunique().gt(1).any()]
    label = text(rows["signal"])
    for column in varying:
        label = label + f" {column}=" + text(rows[column])
    for column in sorted(c for c in rows.columns if option_name(c) is not None and c not in leave_out):
        if text(rows[column]).groupby(label).nunique().gt(1).any():
            label = label + f" {option_name(column)}=" + text(rows[column])
    return rows.assign(setting=label)


def text(values: pd.Series) -> pd.Series:
    """Values as labels, a missing one (None, NaN: an unset setting) as "None": pandas' astype(str) keeps
    NaN, which nunique ignores and groupby drops, pooling or losing the rows of an unset setting."""
    return values.map(lambda value: "None" if pd.isna(value) else str(value)).astype(object)


def cell_table(ok: pd.DataFrame, metric: str) -> pd.DataFrame:
    """mean, std and count of ``metric`` over seeds per (setting, model_spec), and ``seeds``, the rows of the
    cell (more than its count where a seed never reached a level: ``table_rows``), plus a ``mean over
    signals`` row per model (settings as ``with_setting`` labels them). That row averages only the signals on
    which every model has values, so that a partial sweep does not compare means over different signals; it
    is absent when no signal has them all."""
    per_signal = (with_setting(ok).groupby(["setting", "model_spec"])[metric].agg(["mean", "std", "count", "size"])
                  .reset_index().rename(columns={"setting": "signal", "size": "seeds"}))
    complete = ~per_signal["signal"].isin(partial_signals(per_signal))
    overall = per_signal[complete].groupby("model_spec").agg(
        mean=("mean", "mean"), std=("std", "mean"), count=("count", "sum"), seeds=("seeds", "sum")).reset_index()
    overall["signal"] = MEAN_ROW
    return pd.concat([per_signal, overall], ignore_index=True)


def partial_signals(cells: pd.DataFrame) -> list[str]:
    """The signals of a ``cell_table`` (or of its per-signal rows) on which some model that has values
    somewhere has none: the mean row leaves them out."""
    per_signal = cells[cells["signal"] != MEAN_ROW]
    valued = per_signal[per_signal["count"] > 0]
    counts = valued.groupby("signal")["model_spec"].nunique().reindex(per_signal["signal"].unique(), fill_value=0)
    return sorted(counts.index[counts < valued["model_spec"].nunique()], key=natural)


def left_out_of_mean(cells: pd.DataFrame) -> str:
    """A caption sentence naming the signals the ``mean over signals`` row leaves out, if any."""
    partial = partial_signals(cells)
    return (f" The mean over signals leaves out {', '.join(partial)}: not every model has results there (yet)."
            if partial else "")


def made_by(rows: pd.DataFrame) -> pd.Series:
    """What, besides its cell, each row's numbers depend on: its ``numerics`` (see
    ``bench.experiment.execute.numerics``; rows from before that column: "compiled" or "eager" from ``compiled``),
    the device (the GPU's name, or the CPU model with its cores and threads), the torch version, and the code
    of its scheme and task where the row recorded it."""
    before = (rows["compiled"].map(lambda c: "compiled" if c is True else "eager") if "compiled" in rows
              else pd.Series("eager", index=rows.index))
    how = rows["numerics"].where(rows["numerics"].notna(), before) if "numerics" in rows else before
    device = rows["device_name"].astype(str) if "device_name" in rows else ""
    torch_version = rows["torch"].astype(str) if "torch" in rows else ""
    code = sum((" " + column + " " + text(rows[column]) for column in ("model_code", "task_code") if column in rows
                and rows[column].notna().any()), start=pd.Series("", index=rows.index))
    return how.astype(str) + " on " + device + " with torch " + torch_version + code


def pooled_differently(ok: pd.DataFrame) -> str:
    """A caption sentence counting the cells of a table (setting x model) whose seeds were made differently
    (``made_by``: compiled beside eager steps, several device kinds or torch versions), whose spread then
    holds that difference too; "" when every cell's rows were made alike."""
    if ok.empty:
        return ""
    made = with_setting(ok).assign(made_by=made_by(ok))
    ways = made.groupby(["setting", "model_spec"])["made_by"].nunique()
    mixed = int((ways > 1).sum())
    if not mixed:
        return ""
    ways_named = "; ".join(sorted(made["made_by"].unique()))
    return (f" {mixed} of {len(ways)} cells pool seeds made differently ({ways_named}): their spread holds that "
            f"difference too.")


def seeds_per_cell(cells: pd.DataFrame) -> list[int]:
    """The distinct seed counts of a ``cell_table``'s per-signal cells, for a caption."""
    return sorted(cells["seeds"][cells["signal"] != MEAN_ROW].unique().tolist())


def seeds_caption(cells: pd.DataFrame) -> str:
    """The caption's first words on what a cell of a ``cell_table`` holds."""
    seeds = seeds_per_cell(cells)
    if seeds == [1]:
        return "One seed per cell: each value is that seed's, with no spread"
    return (f"Mean ± std over seeds (seeds per cell: {', '.join(map(str, seeds))}"
            + ("; a cell of one seed shows its value alone" if 1 in seeds else "")
            + ("; a std of 2 seeds rests on 2 values, a rough guide only" if 2 in seeds else "") + ")"
            + (f"; the {MEAN_ROW} row: the mean of the signals' means ± the mean of their stds"
               if (cells["signal"] == MEAN_ROW).any() else ""))


def fewest_pairs_note(significance_table: pd.DataFrame) -> str:
    """A sentence on what the fewest pairs of a ``significance`` table can show: with n pairs no two-sided
    Wilcoxon p falls below 2 / 2^n, and a bootstrap interval of few pairs is rough."""
    pairs = significance_table["pairs"][significance_table["pairs"] > 0]
    if pairs.empty or pairs.min() >= 10:
        return ""
    n = int(pairs.min())
    return (f" The fewest pairs here are {n}: with {n} pairs no two-sided Wilcoxon p can fall below {2 / 2**n:.3g}, "
            f"and an interval from {n} values is a rough guide.")


def formatted(cells: pd.DataFrame, bold: tuple[str, str], plus_minus: str, metric: str | Metric) -> pd.DataFrame:
    """Rows = signals, columns = models, ``mean ± std`` (the mean alone where one seed gives no std); the
    best mean of each row (by the metric's ``direction``, among the cells whose seeds have values most often)
    wrapped in ``bold``. Steps to a level (``Metric.level_of``) add ``(k/n)``: k of the cell's n seeds
    reached it."""
    means, stds, counts, seeds = (cells.pivot(index="signal", columns="model_spec", values=v)
                                  for v in ("mean", "std", "count", "seeds"))
    declaration = metric if isinstance(metric, Metric) else declared(metric)
    digits = f"{{:.{declaration.digits}f}}"
    text = means.map(digits.format) + spread(stds, digits, plus_minus)
    share = counts / seeds
    contenders = means.where(share.eq(share.max(axis=1), axis=0))  # a mean of fewer seeds' values never wins
    best = contenders.eq(contenders.max(axis=1) if declaration.higher_is_better else contenders.min(axis=1), axis=0)
    if declaration.higher_is_better is None:  # a column without a better direction: no best to mark
        best = best & False
    text = text.where(~best, bold[0] + text + bold[1]).where(means.notna(), "-")
    if declaration.level_of:
        reached = " (" + counts.map("{:.0f}".format) + "/" + seeds.map("{:.0f}".format) + ")"
        text = text + reached.where(seeds.notna(), "")
    text = text.loc[sorted(text.index, key=row_order)]
    text.index.name, text.columns.name = "signal", None
    return text


def spread(stds: pd.DataFrame | pd.Series, digits: str, plus_minus: str = "±") -> pd.DataFrame | pd.Series:
    """`` ± std`` per cell, or "" where the std is NaN (a cell of one seed has no spread to show)."""
    return (f" {plus_minus} " + stds.map(digits.format)).where(stds.notna(), "")


def row_order(signal: str) -> tuple:
    """Sort key of a table's rows: signals in ``natural`` order, the mean over signals last."""
    return signal == MEAN_ROW, natural(signal)


def natural(label: str) -> list:
    """Sort key that orders the numbers inside a label by value ("n_samples=4096" before "=16384")."""
    return [(0, float(part), "") if re.fullmatch(r"\d+(\.\d+)?", part) else (1, 0.0, part)
            for part in re.split(r"(\d+(?:\.\d+)?)", label)]


def render_table(cells: pd.DataFrame, fmt: str, metric: str | Metric, caption: str = "") -> str:
    """``formatted`` cells of ``metric`` as Markdown (best in **bold**), or LaTeX: a booktabs ``table`` with
    ``caption`` and the label ``tab:<metric>`` that compiles as written (labels and caption escaped, e.g.
    ``_`` as ``\\_``; best in \\textbf); or ``tidy`` CSV, numbers one row per cell."""
    if fmt == "markdown":
        return markdown(formatted(cells, ("**", "**"), "±", metric), disable_numparse=True)  # "13.40" stays "13.40"
    name = metric.name if isinstance(metric, Metric) else metric
    if fmt == "csv":
        return tidy(cells, name).to_csv(index=False)
    styler = formatted(cells, (r"\textbf{", "}"), r"$\pm$", metric).style
    styler = styler.format_index(escape="latex", axis=0).format_index(escape="latex", axis=1)
    return styler.to_latex(hrules=True, environment="table", position_float="centering",
                           caption=latex_text(caption) if caption else None, label=f"tab:{name}")


def tidy(cells: pd.DataFrame, metric: str) -> pd.DataFrame:
    """A ``cell_table`` as data, one row per (signal, model) in the tables' order: ``mean``, ``std``, ``n``
    (the seeds with a value), ``seeds`` (the cell's seeds) and the 95% t-interval of the mean over seeds
    (``ci_low``, ``ci_high``: mean ± t(0.975, n - 1) std / sqrt(n); empty below two values and on the mean over
    signals row, whose std is the mean of the per-signal stds)."""
    rows = cells.rename(columns={"model_spec": "model", "count": "n"})
    n = rows["n"].where((rows["signal"] != MEAN_ROW) & (rows["n"] >= 2))  # NaN where no interval is given
    half = scipy.stats.t.ppf(0.975, n - 1) * rows["std"] / np.sqrt(n)
    rows = rows.assign(metric=metric, ci_low=rows["mean"] - half, ci_high=rows["mean"] + half)
    order = sorted(rows.index, key=lambda i: (row_order(rows.at[i, "signal"]), natural(rows.at[i, "model"])))
    columns = ["metric", "signal", "model", "mean", "std", "n", "seeds", "ci_low", "ci_high"]
    return rows.loc[order, columns].reset_index(drop=True)


# LaTeX's special characters in text; pandas escapes labels (Styler.format_index) but not a caption
LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "±": r"$\pm$"}


def latex_text(text: str) -> str:
    """``text`` with LaTeX's special characters escaped, to stand in a caption."""
    return re.sub("|".join(map(re.escape, LATEX_SPECIAL)), lambda match: LATEX_SPECIAL[match.group(0)], text)


def markdown(table: pd.DataFrame, **options) -> str:
    """``table.to_markdown(**options)`` with each ``|`` of its labels and text escaped as ``\\|``, which a
    Markdown table would take for the start of a new column."""
    def escape(value):
        return value.replace("|", r"\|") if isinstance(value, str) else value

    return table.map(escape).rename(index=escape, columns=escape).to_markdown(**options)


def table_rows(results: pd.DataFrame, metric: str | Metric) -> pd.DataFrame:
    """The rows a table of ``metric`` counts: ``metric_rows``, and for steps (or seconds) to a level
    (``Metric.level_of``) also the ok rows whose curve never reached it (NaN), so that each cell says how many
    of its seeds did."""
    declaration = metric if isinstance(metric, Metric) else declared(metric)
    metric = declaration.name
    rows = metric_rows(results, metric)
    base = declaration.level_of
    if base is None or curve_column(base) not in results:
        return rows
    reached_or_not = results[metric].notna() | results[curve_column(base)].map(is_curve)
    return results[(results["status"] == OK) & reached_or_not]


def metric_rows(results: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Rows with status ok and a value of ``metric``; an absent metric is a usage error."""
    if metric not in results.columns:
        present = metrics_in(results)
        raise UsageError(f"no column {metric!r} in these results; metrics present: {', '.join(present) or 'none'}")
    return results[(results["status"] == OK) & results[metric].notna()]


def significance(ok: pd.DataFrame, metric: str, baseline: str, seed: int = 0) -> pd.DataFrame:
    """Per model: paired difference model - baseline over (setting, seed) (see ``with_setting``), its mean,
    bootstrap 95% CI (scipy.stats.bootstrap) and the Wilcoxon signed-rank p-value."""
    if baseline not in set(ok["model_spec"]):
        raise UsageError(f"baseline {baseline!r} has no results; choose one of: {', '.join(sorted(set(ok['model_spec'])))}")
    differences = differences_to(ok, metric, baseline)
    rows = []
    for model in differences.columns:
        diff = differences[model].dropna().to_numpy()
        row = {"model": model, "baseline": baseline, "pairs": len(diff), "mean_diff": float(np.mean(diff)) if len(diff) else np.nan,
               "ci_low": np.nan, "ci_high": np.nan, "wilcoxon_p": np.nan}
        if len(diff) >= 2 and np.isfinite(diff).all() and np.ptp(diff) > 0:  # an exact fit's inf: no interval
            ci = scipy.stats.bootstrap((diff,), np.mean, confidence_level=0.95, n_resamples=9999,
                                       random_state=np.random.default_rng(seed)).confidence_interval
            row |= {"ci_low": float(ci.low), "ci_high": float(ci.high)}
        if len(diff) >= 1 and np.any(diff != 0):
            row["wilcoxon_p"] = float(scipy.stats.wilcoxon(diff).pvalue)
        rows.append(row)
    return pd.DataFrame(rows, columns=["model", "baseline", "pairs", "mean_diff", "ci_low", "ci_high", "wilcoxon_p"])


def differences_to(ok: pd.DataFrame, metric: str, baseline: str) -> pd.DataFrame:
    """The paired differences model - baseline: a row per (setting, seed) (``with_setting``), a column per
    model but the baseline, in name order; NaN where either side has no value."""
    wide = with_setting(ok).pivot_table(index=["setting", "seed"], columns="model_spec", values=metric)
    models = sorted(c for c in wide.columns if c != baseline)
    return wide[models].sub(wide[baseline], axis=0)


def mean_differences(ok: pd.DataFrame, metric: str, baseline: str) -> pd.DataFrame:
    """The mean over seeds of ``differences_to``: a row per setting, in natural order, a column per model but
    the baseline; NaN where no pair has a finite difference (an exact fit's inf, or none)."""
    means = differences_to(ok, metric, baseline).replace([np.inf, -np.inf], np.nan).groupby(level="setting").mean()
    return means.reindex(sorted(means.index, key=natural)).dropna(how="all").dropna(axis=1, how="all")


RATES = {"steps_per_s": True, "samples_per_s": True, "gflop_per_s": True, "seconds": False}  # speed: which way is better
LEVEL_COLUMN = re.compile(r"(steps|seconds)_to_(?P<level>[0-9.e+-]+)_(?P<base>.+)")


def tabulated(results: pd.DataFrame, column: str) -> Metric:
    """The declaration a table of ``column`` uses (``bench table --metric``): a declared metric's own; for a
    column derived from one (``best_<metric>``, ``seconds_to_<level>_<metric>``) or a rate, one made from
    it with its direction; for any other numeric column of ``results``, one with no direction (no best
    marked). A column the rows lack, or one that is not numeric, is a usage error naming the nearest."""
    if column in METRICS:
        return METRICS[column]
    numeric = [c for c in results.columns if pd.api.types.is_numeric_dtype(results[c]) and not
               pd.api.types.is_bool_dtype(results[c])]
    if column not in numeric:
        what = "is not numeric" if column in results.columns else "is no column of these rows"
        raise UsageError(f"{column!r} {what}{did_you_mean(column, [*METRICS, *numeric])}; --metric takes a "
                         f"declared metric or any numeric column of the rows (docs/results.md lists them)")
    level = LEVEL_COLUMN.fullmatch(column)
    base = METRICS.get(column.removeprefix("best_")) or (level and METRICS.get(level["base"]))
    if not (level and base) and results[column].isna().all():  # (a level no seed reached: its table says 0/n)
        raise UsageError(f"{column!r} has no value in any row of these results; --metric takes a column that "
                         f"has values (bench table RESULTS --metric COLUMN)")
    if column.startswith("best_") and base:
        return Metric(column, f"best {base.label}", base.higher_is_better, digits=base.digits,
                      note=f"The best {base.name} over training.")
    if level and base:
        return Metric(column, f"seconds to {float(level['level']):g} dB {base.label.removesuffix(' (dB)')}", False,
                      level_of=base.name, note=f"Seconds until the {base.name} curve first reached the level.")
    values = results[column].dropna()
    whole = bool(len(values)) and bool(np.all(np.mod(values, 1) == 0))
    return Metric(column, column, RATES.get(column) if role_of(column) == SPEED else None, digits=0 if whole else 3)


def metrics_in(results: pd.DataFrame) -> list[str]:
    """The declared metrics that are columns of ``results``, in declaration order."""
    return [name for name in METRICS if name in results.columns]


def undeclared_metrics(results: pd.DataFrame) -> list[str]:
    """The metric columns of ``results`` that no declared metric reads: those the rows name as their
    ``main_metric`` or keep a best value of (``best_column``), when declared by a plugin not loaded now."""
    named = set(results["main_metric"].dropna()) if "main_metric" in results else set()
    kept_best = {column for column in results.columns if best_column(column) in results}
    return sorted(name for name in named | kept_best if name in results and name not in METRICS)


def scored_on_every_point(rows: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The rows of ``metric`` scored on every point, which its conversions read (held-out rows score others)."""
    fit = declared(metric).fit
    return rows[rows[fit].isna()] if fit in rows else rows


def conversion_cells(rows: pd.DataFrame, conversion: Conversion) -> pd.DataFrame:
    """``cell_table`` of a conversion of ``rows`` (``scored_on_every_point``), under the converted metric's name."""
    name = conversion.metric.name
    return cell_table(rows.assign(**{name: conversion.convert(rows)}), name)


def conversion_section(rows: pd.DataFrame, conversion: Conversion, out: Path) -> list[str]:
    """A metric's results in another convention (``Conversion``), as tables and a README section; nothing
    when some row lacks a column the conversion needs."""
    if not len(rows) or not all(c in rows and rows[c].notna().all() for c in conversion.needs):
        return []
    name = conversion.metric.name
    cells = conversion_cells(rows, conversion)
    caption = f"{conversion.caption} {seeds_caption(cells)}."
    for ext, fmt in (("md", "markdown"), ("csv", "csv"), ("tex", "latex")):
        (out / f"table_{name}.{ext}").write_text(render_table(cells, fmt, conversion.metric, caption) + "\n")
    return [f"### {conversion.title}", "", (out / f"table_{name}.md").read_text(),
            caption, ""]
