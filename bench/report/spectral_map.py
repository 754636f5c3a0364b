"""The spectral map of a sweep over band noise (``synthetic:band``, docs/methods.md): a metric against
the target's spectral centroid and the signal's length, as heatmaps (one panel per init) and lines (one
panel per length), drawn when the rows hold band-noise targets at several centroids."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.core.plotting import PANEL_WIDTH, PANELS_PER_ROW, headline, tidy_panels, pyplot, save_png_and_pdf
from bench.report.tables import natural
from bench.core.metrics import declared
from bench.report.sections import Report, pictures, report_section

BAND_PREFIX = "synthetic:band("


def band_rows(ok: pd.DataFrame) -> pd.DataFrame:
    """The rows of band-noise targets with a centroid and a length, or none when they hold fewer than two
    centroids (no map to draw)."""
    if not {"signal", "centroid", "n_samples"} <= set(ok):
        return ok.iloc[:0]
    rows = ok[ok["signal"].str.startswith(BAND_PREFIX) & ok["centroid"].notna()]
    return rows if rows["centroid"].round(4).nunique() >= 2 else rows.iloc[:0]


def spectral_map_figures(ok: pd.DataFrame, column: str, label: str, out: Path) -> list[str]:
    """Heatmaps of ``column`` (mean over seeds) over centroid x length, one panel per model, when there are
    two lengths or more, and lines against the centroid (95% CI over seeds), one panel per length; returns
    the PNG names. Rows of other settings (widths, options) would be pooled, so a map needs one of each."""
    rows = band_rows(ok)
    if not len(rows) or column not in rows or rows[column].isna().all():
        return []
    rows = rows.assign(centroid=rows["centroid"].round(3), length=rows["n_samples"].astype(int))
    plt, sns = pyplot()
    models = sorted(rows["model_spec"].unique(), key=natural)
    made = []
    lengths = sorted(rows["length"].unique())
    if len(lengths) > 1:
        means = rows.groupby(["model_spec", "length", "centroid"])[column].mean().reset_index()
        columns = min(PANELS_PER_ROW, len(models))
        fig, axes = plt.subplots(-(-len(models) // columns), columns, squeeze=False,
                                 figsize=(PANEL_WIDTH * 1.2 * columns, 2.4 * -(-len(models) // columns) + 0.6))
        for ax, model in zip(axes.flat, models):
            grid = means[means["model_spec"] == model].pivot(index="length", columns="centroid", values=column)
            # a scale per panel, with its colour bar: one shared scale lets one init's range paint the others flat
            spread = grid.max().max() - grid.min().min()
            sns.heatmap(grid.sort_index(ascending=False), ax=ax, cmap="viridis", annot=True,
                        fmt=".0f" if spread > 10 else ".2g", annot_kws={"size": 6}, cbar=True)
            ax.set(xlabel="target centroid (1 = Nyquist)", ylabel="samples")
            ax.set_title(model, fontsize=9)
        for ax in list(axes.flat)[len(models):]:
            ax.axis("off")
        headline(fig, f"{label}: mean over seeds by target centroid and length (colour scale per panel)")
        fig.tight_layout()
        made += save_png_and_pdf(fig, out, f"map_{column}")
    grid = sns.relplot(rows, x="centroid", y=column, hue="model_spec", hue_order=models, col="length",
                       col_order=lengths, col_wrap=min(PANELS_PER_ROW, len(lengths)), kind="line", marker="o",
                       errorbar=("ci", 95), seed=0, n_boot=1000, height=3.0, aspect=PANEL_WIDTH / 3.0)
    grid.set(xlabel="target centroid (1 = Nyquist)", ylabel=label)
    tidy_panels(grid, "{col_name} samples")
    grid.legend.set_title("model")
    headline(grid.figure, f"{label} against the target's centroid (band: 95% CI over seeds)")
    made += save_png_and_pdf(grid.figure, out, f"map_{column}_lines")
    return [name for name in made if name.endswith(".png")]


@report_section(order=10)
def spectral_map(report: Report) -> list[str]:
    """Maps of the task's main metric and of the NTK's energy above the centroid at init, where recorded."""
    ok = report.ok
    # rows written before the column existed hold NaN there: the first row that names its metric decides
    named = ok["main_metric"].dropna() if "main_metric" in ok else pd.Series(dtype=object)
    main = named.iloc[0] if len(named) else None
    maps = [(column, label) for column, label in (
        (main, declared(main).label if main else ""),
        ("ntk_init_frac_above_centroid", "share of NTK energy above the centroid at init")) if column]
    pngs = [png for column, label in maps for png in spectral_map_figures(ok, column, label, report.out)]
    return ["## Spectral map", "", "Band-noise targets (`synthetic:band`) by spectral centroid and length.", "",
            *pictures(pngs)] if pngs else []
