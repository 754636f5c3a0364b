"""Does the NTK at init predict the final score? Spearman's rank correlation per signal and pooled, with a
bootstrap CI, as a table and one scatter figure per NTK summary."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.stats

from bench.core.plotting import PANEL_WIDTH, PANELS_PER_ROW, headline, tidy_panels, pyplot, save_png_and_pdf
from bench.core.columns import curve_column
from bench.core.metrics import METRICS, declared
from bench.report.sections import Report, metric_section
from bench.report.tables import markdown, natural, with_setting

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
                       col="setting", col_order=panels, col_wrap=min(PANELS_PER_ROW, len(panels)), height=3,
                       aspect=PANEL_WIDTH / 3,
                       facet_kws={"sharey": False, "sharex": False})
    if (ok[predictor] > 0).all() and ok[predictor].max() / ok[predictor].min() >= 10:
        grid.set(xscale="log")  # (labelled by bench.core.plotting.plain_log_labels)
    grid.set(xlabel=NTK_PREDICTORS[predictor], ylabel=declared(metric).label)
    tidy_panels(grid)
    grid.legend.set_title("model")
    headline(grid.figure, f"final {declared(metric).label} ({declared(metric).direction} is better) against the "
                         f"{NTK_PREDICTORS[predictor]}; one dot per member")
    return save_png_and_pdf(grid.figure, out, f"{metric}_vs_{predictor}")[:1]


def ntk_prediction_section(ok: pd.DataFrame, metric: str, out: Path) -> list[str]:
    """README lines (table, figures) of whether the NTK at init predicts the final ``metric``."""
    table = ntk_prediction(ok, metric)
    if table.empty:
        return []
    table.to_csv(out / f"ntk_predicts_{metric}.csv", index=False, float_format="%.6g")
    (out / f"ntk_predicts_{metric}.md").write_text(markdown(table, index=False, floatfmt=".3g") + "\n")
    lines = [f"### Does the NTK at init predict the final {metric}?", "",
             f"Spearman's rank correlation between a member's NTK summary at init and its final {metric} "
             f"({declared(metric).direction} is better), over the members of each signal (models and seeds together), "
             f"with a percentile bootstrap 95% CI ({PREDICTION_RESAMPLES} resamples of members; a resample in which "
             "a variable is constant has no rho and is left out); the pooled row "
             "correlates the ranks within each signal. The SIREN² paper's account predicts a positive rho for "
             "the energy above the centroid.", "", (out / f"ntk_predicts_{metric}.md").read_text(), ""]
    for predictor in table["summary"].unique():
        lines += [f"![{png}]({png})\n" for png in ntk_prediction_figure(ok, metric, predictor, out)]
    return lines


@metric_section(order=60)
def prediction_of_the_score(rows: pd.DataFrame, metric: str, report: Report) -> list[str]:
    """For a score tracked in training (a task's main one, not the fit score of a held-out task)."""
    fits = {m.fit for m in METRICS.values() if m.fit}
    return ntk_prediction_section(rows, metric, report.out) if metric not in fits and curve_column(metric) in rows \
        else []
