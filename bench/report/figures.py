"""Report figures (seaborn, PNG and PDF): a metric per signal, its difference to the baseline, against each
swept setting, its training curves, the NTK energy above the centroid, and the training throughput."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bench.core.columns import CURVE_STEPS, curve_column, param_column, param_name
from bench.core.plotting import (PANEL_WIDTH, PANELS_PER_ROW, headline, tidy_panels, pyplot, room_for_labels,
                                 save_png_and_pdf)
from bench.core.metrics import declared
from bench.report.tables import mean_differences, natural, table_rows, with_setting
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


def device_label(rows: pd.DataFrame) -> pd.Series:
    """Each row's device as a panel title: its name where recorded ("cpu: AMD EPYC ...", "cuda: NVIDIA H200")."""
    kind = rows["device"].astype(str).str.partition(":")[0] if "device" in rows else pd.Series("", index=rows.index)
    name = rows["device_name"].astype(str) if "device_name" in rows else pd.Series("", index=rows.index)
    return (kind + ": " + name).str.strip(": ")


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
    # a panel per device and problem (a GPU's rate and a CPU's on one axis would hide the CPU's), a bar per
    # network and ensemble size, named beside it
    ensembles["panel"] = device_label(ensembles) + "\n" + ensembles["problem"]
    plt, sns = pyplot()
    panels = sorted(ensembles["panel"].unique(), key=natural)
    networks = sorted(ensembles["network"].unique(), key=natural)
    height = 1.8 + 0.25 * len(networks)  # (three lines of panel title)
    grid = sns.catplot(ensembles, kind="bar", y="network", x="member_steps_per_s", hue="network", order=networks,
                       hue_order=networks, col="panel", col_order=panels, col_wrap=min(PANELS_PER_ROW, len(panels)),
                       errorbar=None, height=height, aspect=PANEL_WIDTH / height, sharex=False, legend=False)
    grid.set(ylabel="", xlabel="member-steps/s (mean)")
    tidy_panels(grid)
    headline(grid.figure, "training throughput per device and problem (task, points, layers x width),\nby network "
                         "family and ensemble size (x N members)")
    room_for_labels(grid, networks)
    return save_png_and_pdf(grid.figure, out, "throughput")[:1]


def mark_reached(grid, rows: pd.DataFrame, metric: str, models: list[str]) -> None:
    """Steps to a level, on a per-signal bar grid: "k/n" after each model's furthest seed (k of its n seeds
    reached the level), and "not reached (0/n)" where the bar of a model none of whose seeds did would be."""
    counts = rows.groupby(["setting", "model_spec"])[metric].agg(["count", "size", "max"])
    for setting, ax in grid.axes_dict.items():
        furthest = 0.0
        for position, model in enumerate(models):
            if (setting, model) in counts.index:
                reached, n, last = counts.loc[(setting, model)]
                text = f"  {reached:.0f}/{n:.0f}" if reached else f"  not reached (0/{n:.0f})"
                ax.text(last if reached else 0.0, position, text, va="center", fontsize=7)
                furthest = max(furthest, last if reached else 0.0)
        ax.set_xlim(left=0.0, right=max(furthest * 1.3, 1.0))  # room for the counts after the furthest dots


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

    # one panel per setting, wrapped: a bar per model, its name beside it, so no legend and no width that
    # grows with the signals
    height = 1.6 + 0.25 * len(models)  # (a panel title of up to three lines)
    grid = sns.catplot(ok, kind="bar", y="model_spec", x=metric, hue="model_spec", order=models, hue_order=models,
                       col="setting", col_order=settings, col_wrap=min(PANELS_PER_ROW, len(settings)), errorbar=None,
                       alpha=0.7, height=height, aspect=PANEL_WIDTH / height, sharex=False, legend=False)
    grid.map_dataframe(sns.stripplot, y="model_spec", x=metric, order=models, color="k", size=3, jitter=False)
    grid.set(ylabel="", xlabel=label)  # no jitter above: deterministic files
    tidy_panels(grid)
    levels = declared(metric).level_of is not None
    if levels:
        mark_reached(grid, ok, metric, models)
    headline(grid.figure, f"{label} per signal, {declared(metric).direction} is better (bars: mean over seeds; "
                         "dots: seeds" + ("; k/n: seeds that reached it" if levels else "") + ")")
    room_for_labels(grid, models)
    made += save_png_and_pdf(grid.figure, out, f"{metric}_per_signal")

    scored = ok[ok[metric].notna()]  # (the rows of seeds that never reached a level only count in mark_reached)
    for column, subset in swept(scored).items():
        name = param_name(column) or column
        # one line per model spec but the swept value, one panel per setting but the swept one: nothing pooled
        varied = (column, "param_budget", "width") if column == "n_params" else (column,)  # one axis, three names
        subset = with_setting(subset, leave_out=varied).assign(
            line=subset["model_spec"].map(lambda spec: without_param(spec, name)) if name != column
            else subset["model_spec"])
        panels = sorted(subset["setting"].unique(), key=natural)
        grid = sns.relplot(subset, x=column, y=metric, hue="line", hue_order=sorted(subset["line"].unique()),
                           col="setting", col_order=panels, col_wrap=min(PANELS_PER_ROW, len(panels)),
                           kind="line", errorbar=("ci", 95), marker="o", seed=0, n_boot=1000, height=3.0,
                           aspect=PANEL_WIDTH / 3.0, facet_kws={"sharey": False})
        logx = (subset[column] > 0).all() and subset[column].max() / subset[column].min() >= 8
        grid.set(xscale="log" if logx else "linear", xlabel=AXIS_NAMES.get(name, name), ylabel=label)
        tidy_panels(grid)
        grid.legend.set_title("model")
        headline(grid.figure, f"{label} versus {AXIS_NAMES.get(name, name)}, {declared(metric).direction} is better "
                             f"(band: 95% CI over seeds{few_seeds(scored)})")
        made += save_png_and_pdf(grid.figure, out, f"{metric}_vs_{name}")

    curve = curve_column(metric)
    if curve in ok and ok[curve].notna().any():
        # a fresh index: the exploded points of a row share its label, and seaborn, dropping an exact fit's inf
        # points, realigns by label
        long = ok[["model_spec", "setting", "seed", CURVE_STEPS, curve]].explode([CURVE_STEPS, curve], ignore_index=True)
        long = long.astype({CURVE_STEPS: int, curve: float})
        one = len(settings) == 1  # a single panel gets the room of a row of panels, not a narrow box
        grid = sns.relplot(long, x=CURVE_STEPS, y=curve, hue="model_spec", hue_order=models, col="setting",
                           col_order=settings, col_wrap=min(PANELS_PER_ROW, len(settings)), kind="line",
                           errorbar=("ci", 95), seed=0, n_boot=200, height=3.6 if one else 2.8,
                           aspect=1.8 if one else PANEL_WIDTH / 2.8, facet_kws={"sharey": False})
        grid.set(xlabel="step", ylabel=label)
        tidy_panels(grid)
        grid.legend.set_title("model")
        headline(grid.figure, f"training curves of {label} per signal, {declared(metric).direction} is better "
                             f"(line: mean over seeds; band: 95% CI{few_seeds(ok)})")
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
            models = sorted(ok["model_spec"].unique())  # a bar per model, named beside it (no slanted names)
            fig, ax = plt.subplots(figsize=(6 + 0.07 * max(map(len, models)), 1.2 + 0.3 * len(models)))
            sns.barplot(ok, y="model_spec", x=column, order=models, errorbar=("ci", 95), ax=ax, seed=0)
            ax.set(xscale="log", ylabel="", xlabel="share of NTK energy above the target centroid",
                   title=f"NTK spectral energy above the centroid ({stage})")
            fig.tight_layout()
            made += save_png_and_pdf(fig, out, f"ntk_{stage}_energy_fraction")
    return [name for name in made if name.endswith(".png")]


def difference_figure(rows: pd.DataFrame, metric: str, baseline: str, out: Path) -> list[str]:
    """``mean_differences`` as a heatmap, each cell's value written in it, blue where the model is better (the
    colours turn with the metric's direction); cells without a finite difference stay blank. Returns the PNG
    file name, none when no other model has a pair."""
    plt, sns = pyplot()
    from matplotlib.colors import SymLogNorm  # (matplotlib is imported on first use: see pyplot)
    from matplotlib.ticker import StrMethodFormatter

    means = mean_differences(rows, metric, baseline)
    if means.empty:
        return []
    declaration = declared(metric)
    # colours on a symmetric log scale past 1 unit: a fit to float precision (+100 dB) does not wash out the
    # differences of a few dB beside it
    scale = max(float(np.nanmax(np.abs(means.to_numpy()))), 1.0)
    fig, ax = plt.subplots(figsize=(2.2 + 0.75 * means.shape[1] + 0.06 * max(map(len, means.index)),
                                    max(2.6, 1.2 + 0.32 * means.shape[0])  # (room for the colour bar's label)
                                    + 0.075 * max(map(len, means.columns))))  # the models' names, upright
    sns.heatmap(means, ax=ax, annot=True, fmt=".3g", annot_kws={"fontsize": 7}, linewidths=0.5,
                cmap="RdBu" if declaration.higher_is_better else "RdBu_r",
                norm=SymLogNorm(linthresh=1.0, vmin=-scale, vmax=scale),
                cbar_kws={"label": f"{declaration.label} - {baseline}"})
    ax.set(xlabel="", ylabel="")
    ax.tick_params(axis="x", labelrotation=90)
    ax.tick_params(axis="y", labelrotation=0)
    decades = 10.0 ** np.arange(0, np.floor(np.log10(scale)) + 1)
    ax.collections[0].colorbar.set_ticks(np.concatenate([-decades[::-1], [0.0], decades]))
    ax.collections[0].colorbar.ax.yaxis.set_major_formatter(StrMethodFormatter("{x:g}"))
    fig.tight_layout()  # before the headline, which sits above the laid-out panels
    headline(fig, f"difference to {baseline}, {declaration.label}:\nmean over seeds of the paired difference "
                  "(blue: the model is better)")
    return [name for name in save_png_and_pdf(fig, out, f"difference_{metric}") if name.endswith(".png")]


@metric_section(order=35)
def difference_to_baseline(rows: pd.DataFrame, metric: str, report: Report) -> list[str]:
    if report.baseline not in set(rows["model_spec"]):
        return []
    return [line for png in difference_figure(rows, metric, report.baseline, report.out) for line in (f"![{png}]({png})", "")]


@metric_section(order=40)
def metric_figures(rows: pd.DataFrame, metric: str, report: Report) -> list[str]:
    # steps to a level: also the rows that never reached it, so that the figures say so (``mark_reached``)
    rows = table_rows(report.results, metric)
    return [line for png in figures(rows, metric, report.out) for line in (f"![{png}]({png})", "")]


@report_section(order=40)
def ntk_energy(report: Report) -> list[str]:
    pngs = ntk_figures(report.ok, report.out)
    return ["## NTK spectral energy", "", *pictures(pngs)] if pngs else []


@report_section(order=50)
def throughput(report: Report) -> list[str]:
    return [line for png in throughput_figure(report.results, report.out)
            for line in ("## Throughput", "", f"![{png}]({png})", "")]
