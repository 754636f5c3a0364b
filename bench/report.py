"""Publication-ready reports from any results directory: tables, paired significance, seaborn figures.

Everything is computed with pandas (tables, LaTeX via Styler), scipy.stats (bootstrap, Wilcoxon) and
seaborn, and written deterministically (sorted rows, fixed seeds, no dates in figure files), so that a
report diffs cleanly in git. Failed cells (diverged, oom, error) are counted and listed, never dropped.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.stats

from bench.errors import UsageError
from bench.plotting import pyplot, save_figure
from bench.status import OK

METRICS = ("snr_db", "psnr_db", "fit_snr_db", "fit_psnr_db", "si_snr_db", "lsd", "ssim")
LOWER_IS_BETTER = ("lsd",)  # for every other metric higher is better

# Columns that make runs of one signal different experiments; a row of a table is a signal plus those
# of them that vary in the results (e.g. "camera task=poisson-lapl", "arch width=256").
SETTING_COLUMNS = ("task", "param_budget", "width", "layers", "steps", "lr", "lr_step", "lr_gamma", "batch_size", "n_samples",
                   "height_px", "width_px", "noise_snr", "noise_std", "noise_seed", "mask",
                   # never pool results of two versions of a target (another file content, or rows from before
                   # bench.sweep.plan.TARGET_REVISION 2, which lack these columns)
                   "signal_fingerprint", "target_revision")
HELD_OUT = " Inpaint tasks score it on the held-out points only (never trained on)."
WHOLE = " Inpaint tasks score the whole output (kept and held-out points) against the whole signal."
NOTES = {
    "snr_db": "SNR in dB on the whole evaluated signal, 10 log10(sum y^2 / sum (y - y_hat)^2), at the last step; "
              "higher is better." + HELD_OUT,
    "psnr_db": "PSNR in dB at the last step, 20 log10(2 / rmse) on targets in [-1, 1] (data range 2; SIREN's "
               "convention); higher is better. The SIREN² repository reports 20 log10(1 / rmse), 6.02 dB lower."
               + HELD_OUT,
    "fit_snr_db": "SNR in dB of an inpaint task on the points it trained on (the kept points), at the last step; "
                  "higher is better. Beside the held-out `snr_db` it tells fitting from generalizing.",
    "fit_psnr_db": "PSNR in dB (data range 2) of an inpaint task on the pixels it trained on (the kept pixels), at "
                   "the last step; higher is better. Beside the held-out `psnr_db` it tells fitting from "
                   "generalizing.",
    "si_snr_db": "Scale-invariant SNR in dB at the last step (both signals mean-removed, the target scaled to its "
                 "best fit of the reconstruction); higher is better." + WHOLE,
    "lsd": "Log-spectral distance in dB at the last step: over STFT frames (Hann window of 2048 samples, fewer "
           "for shorter clips; hop a quarter window), the mean of the RMS over frequency of "
           "10 log10((P + 1e-10) / (P_hat + 1e-10)); lower is better, 0 for a perfect fit." + WHOLE,
    "ssim": "SSIM at the last step on the image in [0, 1] (reconstruction clipped to it), data range 1, Gaussian "
            "window 11 x 11 with sigma 1.5 (image mirrored at its border), averaged over all pixels and colour channels; higher is better, 1 for a "
            "perfect fit." + WHOLE,
}
LABELS = {"snr_db": "SNR (dB)", "psnr_db": "PSNR (dB)", "si_snr_db": "SI-SNR (dB)", "lsd": "LSD (dB)",
          "ssim": "SSIM", "fit_snr_db": "fit SNR (dB)", "fit_psnr_db": "fit PSNR (dB)"}  # axis labels
AXIS_NAMES = {"n_samples": "samples in the clip", "width": "hidden width", "layers": "hidden layers",
              "n_params": "trainable parameters"}
PLAIN_AXES = ("width", "layers", "n_samples")  # settings a figure may put on its x axis


def with_setting(rows: pd.DataFrame, leave_out: tuple[str, ...] = ()) -> pd.DataFrame:
    """``rows`` plus a ``setting`` column: the signal, and each setting column (but ``leave_out``) that takes
    several values for one signal (a column that only differs between signals, such as a clip's length,
    says nothing new)."""
    if "param_budget" in rows and rows["param_budget"].notna().any():  # the width follows from budget and model
        leave_out = (*leave_out, "width")
    varying = [c for c in SETTING_COLUMNS if c not in leave_out
               and c in rows and rows[c].astype(str).groupby(rows["signal"]).nunique().gt(1).any()]
    label = rows["signal"].astype(str)
    for column in varying:
        label = label + f" {column}=" + rows[column].astype(str)
    return rows.assign(setting=label)


def cell_table(ok: pd.DataFrame, metric: str) -> pd.DataFrame:
    """mean, std and count of ``metric`` over seeds per (setting, model_spec), plus a ``mean over signals``
    row per model (settings as ``with_setting`` labels them)."""
    per_signal = (with_setting(ok).groupby(["setting", "model_spec"])[metric].agg(["mean", "std", "count"])
                  .reset_index().rename(columns={"setting": "signal"}))
    overall = per_signal.groupby("model_spec").agg(mean=("mean", "mean"), std=("std", "mean"),
                                                   count=("count", "sum")).reset_index()
    overall["signal"] = "mean over signals"
    return pd.concat([per_signal, overall], ignore_index=True)


def direction(metric: str) -> str:
    """"lower" or "higher": which values of ``metric`` are better."""
    return "lower" if metric in LOWER_IS_BETTER else "higher"


def formatted(cells: pd.DataFrame, bold: tuple[str, str], plus_minus: str, metric: str) -> pd.DataFrame:
    """Rows = signals, columns = models, ``mean ± std``; the best mean of each row (by the metric's
    ``direction``) wrapped in ``bold``."""
    means = cells.pivot(index="signal", columns="model_spec", values="mean")
    stds = cells.pivot(index="signal", columns="model_spec", values="std").fillna(0.0)
    digits = "{:.4f}" if metric == "ssim" else "{:.2f}"  # SSIM lives in [0, 1]
    text = means.map(digits.format) + f" {plus_minus} " + stds.map(digits.format)
    best = means.eq(means.min(axis=1) if direction(metric) == "lower" else means.max(axis=1), axis=0)
    text = text.where(~best, bold[0] + text + bold[1]).where(means.notna(), "-")
    order = [s for s in sorted(text.index, key=natural) if s != "mean over signals"] + ["mean over signals"]
    text = text.loc[order]
    text.index.name, text.columns.name = "signal", None
    return text


def natural(label: str) -> list:
    """Sort key that orders the numbers inside a label by value ("n_samples=4096" before "=16384")."""
    return [(0, float(part), "") if re.fullmatch(r"\d+(\.\d+)?", part) else (1, 0.0, part)
            for part in re.split(r"(\d+(?:\.\d+)?)", label)]


def render_table(cells: pd.DataFrame, fmt: str, metric: str) -> str:
    """``formatted`` cells of ``metric`` as Markdown (best in **bold**), CSV, or LaTeX (booktabs rules, \\textbf)."""
    if fmt == "markdown":
        return formatted(cells, ("**", "**"), "±", metric).to_markdown()
    if fmt == "csv":
        return formatted(cells, ("", ""), "±", metric).to_csv()
    return formatted(cells, (r"\textbf{", "}"), r"$\pm$", metric).style.to_latex(hrules=True)


def metric_rows(results: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Rows with status ok and a value of ``metric``; an absent metric is a usage error."""
    if metric not in results.columns:
        present = [m for m in METRICS if m in results.columns]
        raise UsageError(f"no column {metric!r} in these results; metrics present: {', '.join(present) or 'none'}")
    return results[(results["status"] == OK) & results[metric].notna()]


def significance(ok: pd.DataFrame, metric: str, baseline: str, seed: int = 0) -> pd.DataFrame:
    """Per model: paired difference model - baseline over (setting, seed) (see ``with_setting``), its mean,
    bootstrap 95% CI (scipy.stats.bootstrap) and the Wilcoxon signed-rank p-value."""
    if baseline not in set(ok["model_spec"]):
        raise UsageError(f"baseline {baseline!r} has no results; choose one of: {', '.join(sorted(set(ok['model_spec'])))}")
    wide = with_setting(ok).pivot_table(index=["setting", "seed"], columns="model_spec", values=metric)
    rows = []
    for model in sorted(c for c in wide.columns if c != baseline):
        diff = (wide[model] - wide[baseline]).dropna().to_numpy()
        row = {"model": model, "baseline": baseline, "pairs": len(diff), "mean_diff": float(np.mean(diff)) if len(diff) else np.nan,
               "ci_low": np.nan, "ci_high": np.nan, "wilcoxon_p": np.nan}
        if len(diff) >= 2 and np.ptp(diff) > 0:
            ci = scipy.stats.bootstrap((diff,), np.mean, confidence_level=0.95, n_resamples=9999,
                                       random_state=np.random.default_rng(seed)).confidence_interval
            row |= {"ci_low": float(ci.low), "ci_high": float(ci.high)}
        if len(diff) >= 1 and np.any(diff != 0):
            row["wilcoxon_p"] = float(scipy.stats.wilcoxon(diff).pvalue)
        rows.append(row)
    return pd.DataFrame(rows, columns=["model", "baseline", "pairs", "mean_diff", "ci_low", "ci_high", "wilcoxon_p"])


def without_param(spec: str, key: str) -> str:
    """A model spec's label without parameter ``key`` ("siren2:S0=0.1,decay=0.9" -> "siren2:decay=0.9")."""
    name, _, params = spec.partition(":")
    kept = [item for item in filter(None, params.split(",")) if item.partition("=")[0] != key]
    return name + (":" + ",".join(kept) if kept else "")


def swept(ok: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Columns that a run varied on purpose, with the rows to plot against each: width, layers and the
    signal length when they take several values; an init parameter when a model was given several values
    of it in its spec (``siren2:S0=0.01``, ``siren2:S0=0.1``), with the rows of those models."""
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
        if varied:
            found[f"param.{key}"] = ok[ok["model"].isin(varied)]
    return found


def _save(fig, out: Path, name: str) -> list[str]:
    """Write ``fig`` as out/name.png and .pdf and close it; returns the two file names."""
    files = [f"{name}.png", f"{name}.pdf"]
    save_figure(fig, *(out / file for file in files))
    return files


def network_families(models) -> dict[str, str]:
    """Each model name -> the names (among ``models``) of those whose plan builds the same network, and so
    train at the same speed (a model no longer registered is a family of its own)."""
    from bench.models import load_builtin_models

    registry = {entry.name: entry for entry in load_builtin_models()}
    plan = {name: registry[name].meta["plan"] if name in registry else name for name in models}
    return {name: ", ".join(sorted(other for other in models if plan[other] == plan[name])) for name in models}


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
    return _save(fig, out, "throughput")[:1]


def figures(ok: pd.DataFrame, metric: str, out: Path) -> list[str]:
    """Write the figures of ``metric`` this data supports; returns their PNG file names. No figure pools
    settings that vary: signals (with their varying settings, see ``with_setting``) are x positions or
    panels."""
    plt, sns = pyplot()
    models = sorted(ok["model_spec"].unique())
    ok = with_setting(ok)
    settings = sorted(ok["setting"].unique(), key=natural)
    label = LABELS.get(metric, metric)
    made = []

    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(settings) * len(models) / 3), 4))
    sns.barplot(ok, x="setting", y=metric, hue="model_spec", order=settings, hue_order=models, errorbar=None,
                ax=ax, alpha=0.7)
    sns.stripplot(ok, x="setting", y=metric, hue="model_spec", order=settings, hue_order=models, dodge=True,
                  ax=ax, palette="dark:k", size=3, jitter=False, legend=False)  # no jitter: deterministic files
    ax.set(title=f"{label} per signal, {direction(metric)} is better (bars: mean over seeds; dots: seeds)",
           ylabel=label, xlabel="")
    ax.legend(title="model")
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    made += _save(fig, out, f"{metric}_per_signal")

    for column, subset in swept(ok).items():
        name = column.removeprefix("param.")
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
        grid.figure.suptitle(f"{label} versus {AXIS_NAMES.get(name, name)}, {direction(metric)} is better "
                             "(band: 95% CI over seeds)", y=1.03)
        made += _save(grid.figure, out, f"{metric}_vs_{name}")

    curve = f"curve_{metric}"
    if curve in ok and ok[curve].notna().any():
        long = ok[["model_spec", "setting", "seed", "curve_steps", curve]].explode(["curve_steps", curve])
        long = long.astype({"curve_steps": int, curve: float})
        grid = sns.relplot(long, x="curve_steps", y=curve, hue="model_spec", hue_order=models, col="setting",
                           col_order=settings, col_wrap=min(4, len(settings)), kind="line", errorbar=("ci", 95),
                           seed=0, n_boot=200, height=2.8, aspect=1.2, facet_kws={"sharey": False})
        grid.set(xlabel="step", ylabel=label)
        grid.set_titles("{col_name}")
        grid.legend.set_title("model")
        grid.figure.suptitle(f"training curves of {label} per signal, {direction(metric)} is better "
                             "(line: mean over seeds; band: 95% CI)", y=1.02)
        made += _save(grid.figure, out, f"{metric}_training_curves")

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
            made += _save(fig, out, f"ntk_{stage}_energy_fraction")
    return [name for name in made if name.endswith(".png")]


NTK_PREDICTORS = {"ntk_init_frac_above_centroid": "NTK energy above the target centroid at init",
                  "ntk_init_effective_rank": "NTK effective rank at init"}
PREDICTION_RESAMPLES = 2000  # bootstrap resamples of each rank correlation


def rank_correlation(x: np.ndarray, y: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Spearman's rho of paired values with a percentile bootstrap 95% CI (pairs resampled, scipy.stats; the
    resamples in which a variable is constant are left out); NaN where fewer than 3 pairs or a constant
    variable leave it undefined."""
    nan = {"pairs": len(x), "spearman_rho": np.nan, "ci_low": np.nan, "ci_high": np.nan}
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return nan

    def rho(a, b, axis=-1):  # Spearman = Pearson of the ranks, for a batch of resamples at once
        ra, rb = (scipy.stats.rankdata(v, axis=axis) for v in (a, b))
        ra, rb = ra - ra.mean(axis=axis, keepdims=True), rb - rb.mean(axis=axis, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):  # a resample of one repeated pair: NaN
            return (ra * rb).sum(axis=axis) / np.sqrt((ra**2).sum(axis=axis) * (rb**2).sum(axis=axis))

    with warnings.catch_warnings():  # a resample without spread has no rho (NaN): it is left out below
        warnings.simplefilter("ignore", scipy.stats.DegenerateDataWarning)
        resampled = scipy.stats.bootstrap((x, y), rho, paired=True, vectorized=True, n_resamples=PREDICTION_RESAMPLES,
                                          method="percentile", random_state=np.random.default_rng(seed))
    low, high = np.nanpercentile(resampled.bootstrap_distribution, [2.5, 97.5])
    return {"pairs": len(x), "spearman_rho": float(scipy.stats.spearmanr(x, y).statistic), "ci_low": float(low),
            "ci_high": float(high)}


def ntk_prediction(ok: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per NTK summary at init and per setting (see ``with_setting``), the rank correlation of the summary
    with the final ``metric`` over members (models and seeds together); then pooled over settings, on the
    ranks within each setting (so that signals of different difficulty do not make the correlation)."""
    rows = []
    ok = with_setting(ok)
    for predictor in (p for p in NTK_PREDICTORS if p in ok and ok[p].notna().any()):
        data = ok[ok[predictor].notna()]
        for setting, group in sorted(data.groupby("setting"), key=lambda item: natural(item[0])):
            rows.append({"summary": predictor, "signal": setting}
                        | rank_correlation(group[predictor].to_numpy(), group[metric].to_numpy()))
        ranks = data.groupby("setting")[[predictor, metric]].rank(pct=True)
        rows.append({"summary": predictor, "signal": "pooled (ranks within each signal)"}
                    | rank_correlation(ranks[predictor].to_numpy(), ranks[metric].to_numpy()))
    return pd.DataFrame(rows, columns=["summary", "signal", "pairs", "spearman_rho", "ci_low", "ci_high"])


def ntk_prediction_figure(ok: pd.DataFrame, metric: str, predictor: str, out: Path) -> list[str]:
    """The final ``metric`` against the NTK ``predictor`` at init, one dot per member coloured by model, one
    panel per setting; returns the PNG name."""
    plt, sns = pyplot()
    ok = with_setting(ok[ok[predictor].notna()])
    panels = sorted(ok["setting"].unique(), key=natural)
    grid = sns.relplot(ok, x=predictor, y=metric, hue="model_spec", hue_order=sorted(ok["model_spec"].unique()),
                       col="setting", col_order=panels, col_wrap=min(4, len(panels)), height=3, aspect=1.1,
                       facet_kws={"sharey": False, "sharex": False})
    if (ok[predictor] > 0).all() and ok[predictor].max() / ok[predictor].min() >= 10:
        grid.set(xscale="log")
        for ax in grid.axes.flat:  # a panel spanning less than a decade would label its minor ticks on top of each other
            ax.xaxis.set_minor_formatter(plt.NullFormatter())
    grid.set(xlabel=NTK_PREDICTORS[predictor], ylabel=LABELS.get(metric, metric))
    grid.set_titles("{col_name}")
    grid.legend.set_title("model")
    grid.figure.suptitle(f"final {LABELS.get(metric, metric)} ({direction(metric)} is better) against the "
                         f"{NTK_PREDICTORS[predictor]}; one dot per member", y=1.03)
    return _save(grid.figure, out, f"{metric}_vs_{predictor}")[:1]


def ntk_prediction_section(ok: pd.DataFrame, metric: str, out: Path) -> list[str]:
    """README lines (table, figures) of whether the NTK at init predicts the final ``metric``."""
    table = ntk_prediction(ok, metric)
    if table.empty:
        return []
    table.to_csv(out / f"ntk_predicts_{metric}.csv", index=False, float_format="%.6g")
    (out / f"ntk_predicts_{metric}.md").write_text(table.to_markdown(index=False, floatfmt=".3g") + "\n")
    lines = [f"### Does the NTK at init predict the final {metric}?", "",
             f"Spearman's rank correlation between a member's NTK summary at init and its final {metric} "
             f"({direction(metric)} is better), over the members of each signal (models and seeds together), "
             f"with a percentile bootstrap 95% CI ({PREDICTION_RESAMPLES} resamples of members; a resample in which "
             "a variable is constant has no rho and is left out); the pooled row "
             "correlates the ranks within each signal. The SIREN² paper's account predicts a positive rho for "
             "the energy above the centroid.", "", (out / f"ntk_predicts_{metric}.md").read_text(), ""]
    for predictor in table["summary"].unique():
        lines += [f"![{png}]({png})\n" for png in ntk_prediction_figure(ok, metric, predictor, out)]
    return lines


def held_out_section(rows: pd.DataFrame, metric: str, out: Path) -> list[str]:
    """Inpaint tasks: per setting and model, the metric on the kept points (fit) beside the held-out one,
    final and at the step best on the kept points, and a figure of fit against held-out per member."""
    fit = f"fit_{metric}"
    rows = with_setting(rows, leave_out=("mask",))  # the mask gets a column of its own
    rows = rows[rows[fit].notna()]
    columns = {fit: "fit", metric: "held-out", f"best_{fit}": "best fit",
               f"best_{metric}": "held-out at best fit"}
    interp = f"interp_{metric}"  # linear interpolation between the kept points, the same for every member
    if interp in rows and rows[interp].notna().any():  # rows made before it existed: n/a
        columns[interp] = "linear interpolation"
    stats = rows.assign(gap=rows[fit] - rows[metric]).groupby(["setting", "mask", "model_spec"])
    table = pd.DataFrame({label: stats[column].mean().map("{:.2f}".format).replace("nan", "n/a")
                          + ("" if column == interp else " ± " + stats[column].std().fillna(0.0).map("{:.2f}".format))
                          for column, label in (*columns.items(), ("gap", "gap (fit - held-out)"))})
    # (interpolation: one value per mask, no spread)
    table = table.loc[sorted(table.index, key=lambda key: (natural(key[0]), natural(key[1]), key[2]))]
    table = table.rename_axis(["signal", "mask", "model"]).reset_index()
    for ext, text in (("md", table.to_markdown(index=False)), ("csv", table.to_csv(index=False))):
        (out / f"held_out_{metric}.{ext}").write_text(text + "\n")

    plt, sns = pyplot()
    rows = rows.assign(panel=rows["setting"] + ", " + rows["mask"])
    panels = sorted(rows["panel"].unique(), key=natural)
    grid = sns.relplot(rows, x=fit, y=metric, hue="model_spec", hue_order=sorted(rows["model_spec"].unique()),
                       style="model_spec", col="panel", col_order=panels, col_wrap=min(3, len(panels)),
                       height=3.2, aspect=1.1, s=40, facet_kws={"sharex": False, "sharey": False})
    for panel, ax in grid.axes_dict.items():
        if interp in columns and rows.loc[rows["panel"] == panel, interp].notna().any():
            ax.axhline(rows.loc[rows["panel"] == panel, interp].mean(), color="0.3", lw=0.8, ls=":", zorder=0)
        low, high = min(ax.get_xlim()[0], ax.get_ylim()[0]), max(ax.get_xlim()[1], ax.get_ylim()[1])
        ax.plot([low, high], [low, high], color="0.6", lw=0.8, ls="--", zorder=0)  # held-out as good as the fit
    grid.set_titles("{col_name}")
    grid.figure.subplots_adjust(hspace=0.4)  # room for the panel titles under the x labels above
    grid.set(xlabel=f"{LABELS[fit]} on the kept points", ylabel=f"{LABELS[metric]} on the held-out points")
    grid.legend.set_title("model")
    grid.figure.suptitle(f"fit against held-out {LABELS[metric]} per member at the last step (dashed: equal"
                         + ("; dotted: linear interpolation between the kept points)" if interp in columns else ")"),
                         y=1.03)
    pngs = [name for name in _save(grid.figure, out, f"{metric}_fit_vs_held_out") if name.endswith(".png")]
    return ["### Fit and held-out side by side", "", (out / f"held_out_{metric}.md").read_text(),
            f"Mean ± std over seeds of `{fit}` (kept points) and `{metric}` (held-out points) at the last step, "
            f"of both at the step with the best `{fit}` (chosen on the kept points only: choosing on the held-out "
            "points would leak them), "
            + ("the held-out score of linear interpolation between the kept points (no network; a reference to "
               "compare with), " if interp in columns else "")
            + "and the gap between fit and held-out. A gap near zero is a model that generalizes between the "
            "samples; a large gap one that memorizes the samples it saw.", "",
            *(f"![{png}]({png})\n" for png in pngs)]


PEAK_ONE_PSNR = "best_psnr_peak1_db"


def _peak_one_psnr_section(rows: pd.DataFrame, out: Path) -> list[str]:
    """Audio results in the SIREN² code's convention: the best value over training of 20 log10(1 / rmse)
    (its "peak PSNR"), from best_snr_db and the target's mean square (SNR = 10 log10(power / mse))."""
    converted = rows.assign(**{PEAK_ONE_PSNR: rows["best_snr_db"] - 10 * np.log10(rows["signal_power"])})
    cells = cell_table(converted, PEAK_ONE_PSNR)
    for ext, fmt in (("md", "markdown"), ("csv", "csv"), ("tex", "latex")):
        (out / f"table_{PEAK_ONE_PSNR}.{ext}").write_text(render_table(cells, fmt, PEAK_ONE_PSNR) + "\n")
    return ["### In the SIREN² code's convention", "", (out / f"table_{PEAK_ONE_PSNR}.md").read_text(),
            "The best value over training of 20 log10(1 / rmse) on the target (the clip divided by its peak), "
            "the SIREN² code's printed `peak PSNR`: best_snr_db - 10 log10(signal_power), where signal_power is "
            "the target's mean square. Mean ± std over seeds.", ""]


def environment(results: pd.DataFrame, results_dir: Path) -> dict:
    """Package commit(s), torch, device(s) and the time span of the runs, plus the spec when there is one."""
    spec = results_dir / "_spec.toml"
    return {
        "commits": sorted(results["commit"].dropna().unique().tolist()) if "commit" in results else [],
        "torch": sorted(results["torch"].dropna().unique().tolist()) if "torch" in results else [],
        "devices": sorted(results["device_name"].dropna().unique().tolist()) if "device_name" in results else [],
        "first_run": str(results["timestamp"].min()) if "timestamp" in results else None,
        "last_run": str(results["timestamp"].max()) if "timestamp" in results else None,
        "spec": spec.read_text() if spec.is_file() else None,
    }


def write_report(results: pd.DataFrame, results_dir: Path, out: Path, baseline: str = "siren",
                 command: str = "", notes: str | None = None, explicit_baseline: bool = True) -> Path:
    """Write tables, significance, figures, environment.json and a README.md into ``out``; ``notes``
    (markdown) goes under the title. A ``baseline`` without results is an error when the user chose it
    (``explicit_baseline``); the default one may be missing (a partial sweep): no paired differences then."""
    models = sorted(results["model_spec"].dropna().unique())
    if baseline not in models and explicit_baseline:
        raise UsageError(f"--baseline {baseline!r} names no model in {results_dir}; choose one of: {', '.join(models)}")
    out.mkdir(parents=True, exist_ok=True)
    ok = results[results["status"] == OK]
    scored = sorted(ok["model_spec"].dropna().unique())
    failed = results[results["status"] != OK]
    metrics = [m for m in METRICS if m in ok and ok[m].notna().any()]
    env = environment(results, results_dir)
    lines = [f"# Report: {results_dir.name}", "", *([notes.strip(), ""] if notes else []),
             f"Made with `{command}`." if command else "", "",
             f"Measured on {', '.join(env['devices']) or 'unknown devices'} with torch {', '.join(env['torch'])}, "
             f"package commit {', '.join(env['commits'])}, between {env['first_run']} and {env['last_run']} (UTC).", "",
             f"{len(results)} rows: {len(ok)} ok, {len(failed)} failed "
             f"({', '.join(f'{n} {s}' for s, n in failed['status'].value_counts().sort_index().items()) or 'none'}).",
             ""]
    if baseline not in scored:
        lines += [f"No `{baseline}` results yet (none finished ok), so no paired differences against it (rerun the "
                  f"report once it has some, or pass --baseline with one of: {', '.join(scored) or 'none'}).", ""]
    for metric in metrics:
        rows = metric_rows(results, metric)
        cells = cell_table(rows, metric)
        for ext, fmt in (("md", "markdown"), ("csv", "csv"), ("tex", "latex")):
            (out / f"table_{metric}.{ext}").write_text(render_table(cells, fmt, metric) + "\n")
        seeds = sorted(cells["count"][cells["signal"] != "mean over signals"].unique().tolist())
        lines += [f"## {LABELS.get(metric, metric)}: `{metric}`, {direction(metric)} is better", "",
                  (out / f"table_{metric}.md").read_text(),
                  f"Mean ± std over seeds (seeds per cell: {', '.join(map(str, seeds))}); best per row in bold. "
                  f"{NOTES[metric]}", ""]
        whole = rows[rows["fit_snr_db"].isna()] if "fit_snr_db" in rows else rows  # inpaint rows: not that number
        if metric == "snr_db" and len(whole) and "signal_power" in whole and whole["signal_power"].notna().all():
            lines += _peak_one_psnr_section(whole, out)
        if baseline in set(rows["model_spec"]):
            sig = significance(rows, metric, baseline)
            sig.to_csv(out / f"significance_{metric}.csv", index=False, float_format="%.6g")
            (out / f"significance_{metric}.md").write_text(sig.to_markdown(index=False, floatfmt=".4g") + "\n")
            better = "negative" if direction(metric) == "lower" else "positive"
            lines += [f"Paired differences model - `{baseline}` (same signal, setting and seed): mean, bootstrap "
                      f"95% CI, Wilcoxon signed-rank p; {direction(metric)} {metric} is better, so a {better} "
                      "difference favours the model.", "", (out / f"significance_{metric}.md").read_text(), ""]
        for png in figures(rows, metric, out):
            lines += [f"![{png}]({png})", ""]
        if metric in ("snr_db", "psnr_db"):
            if f"fit_{metric}" in rows and rows[f"fit_{metric}"].notna().any():
                lines += held_out_section(rows, metric, out)
            lines += ntk_prediction_section(rows, metric, out)
    ntk_pngs = ntk_figures(ok, out)
    if ntk_pngs:
        lines += ["## NTK spectral energy", "", *(f"![{png}]({png})\n" for png in ntk_pngs)]
    for png in throughput_figure(results, out):
        lines += ["## Throughput", "", f"![{png}]({png})", ""]
    keep = [c for c in ["signal", "model_spec", "seed", "width", "layers", "status", "diverged_step", "error"]
            if c in failed]
    listing = failed[keep].sort_values(keep[:3]).to_markdown(index=False) if len(failed) else "none"
    (out / "failed.md").write_text(listing + "\n")
    if len(failed):
        lines += ["## Failed cells", "", listing, ""]
    (out / "environment.json").write_text(json.dumps(env, indent=2) + "\n")
    lines += ["Environment (commits, torch, devices, spec): [environment.json](environment.json).", ""]
    readme = out / "README.md"
    readme.write_text("\n".join(lines))
    return readme
