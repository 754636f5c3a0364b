"""Inpaint tasks: the score on the kept points beside the held-out one, as a table and a figure."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.core.plotting import PANEL_WIDTH, PANELS_PER_ROW, headline, tidy_panels, pyplot, save_png_and_pdf
from bench.core.metrics import declared
from bench.report.tables import markdown, natural, spread, with_setting
from bench.report.sections import Report, metric_section

def held_out_section(rows: pd.DataFrame, metric: str, out: Path) -> list[str]:
    """Inpaint tasks: per setting and model, the metric on the kept points (fit) beside the held-out one,
    final and at the step best on the kept points, and a figure of fit against held-out per member."""
    fit, whole = declared(metric).fit, declared(metric).whole
    rows = with_setting(rows, leave_out=("mask",))  # the mask gets a column of its own
    rows = rows[rows[fit].notna()]
    columns = {fit: "fit", metric: "held-out"}
    if whole in rows and rows[whole].notna().any():  # rows made before it existed: n/a
        columns[whole] = "every point"
    columns |= {f"best_{fit}": "best fit", f"best_{metric}": "held-out at best fit"}
    interp = f"interp_{metric}"  # linear interpolation between the kept points, the same for every member
    if interp in rows and rows[interp].notna().any():  # rows made before it existed: n/a
        columns[interp] = "linear interpolation"
    stats = rows.assign(gap=rows[fit] - rows[metric]).groupby(["setting", "mask", "model_spec"])
    table = pd.DataFrame({label: stats[column].mean().map("{:.2f}".format).replace("nan", "n/a")
                          + ("" if column == interp else spread(stats[column].std(), "{:.2f}"))
                          for column, label in (*columns.items(), ("gap", "gap (fit - held-out)"))})
    # (interpolation: one value per mask, no spread)
    table = table.loc[sorted(table.index, key=lambda key: (natural(key[0]), natural(key[1]), key[2]))]
    table = table.rename_axis(["signal", "mask", "model"]).reset_index()
    for ext, text in (("md", markdown(table, index=False)), ("csv", table.to_csv(index=False))):
        (out / f"held_out_{metric}.{ext}").write_text(text + "\n")

    plt, sns = pyplot()
    rows = rows.assign(panel=rows["setting"] + ", " + rows["mask"])
    panels = sorted(rows["panel"].unique(), key=natural)
    grid = sns.relplot(rows, x=fit, y=metric, hue="model_spec", hue_order=sorted(rows["model_spec"].unique()),
                       style="model_spec", col="panel", col_order=panels, col_wrap=min(PANELS_PER_ROW, len(panels)),
                       height=3.0, aspect=PANEL_WIDTH / 3.0, s=40, facet_kws={"sharex": False, "sharey": False})
    for panel, ax in grid.axes_dict.items():
        if interp in columns and rows.loc[rows["panel"] == panel, interp].notna().any():
            ax.axhline(rows.loc[rows["panel"] == panel, interp].mean(), color="0.3", lw=0.8, ls=":", zorder=0)
        low, high = min(ax.get_xlim()[0], ax.get_ylim()[0]), max(ax.get_xlim()[1], ax.get_ylim()[1])
        ax.plot([low, high], [low, high], color="0.6", lw=0.8, ls="--", zorder=0)  # held-out as good as the fit
    grid.set(xlabel=f"{declared(fit).label} on the kept points", ylabel=f"{declared(metric).label} on the held-out points")
    tidy_panels(grid)
    grid.legend.set_title("model")
    headline(grid.figure, f"fit against held-out {declared(metric).label} per member at the last step (dashed: equal"
                         + ("; dotted: linear interpolation between the kept points)" if interp in columns else ")"))
    pngs = save_png_and_pdf(grid.figure, out, f"{metric}_fit_vs_held_out")[:1]
    return ["### Fit and held-out side by side", "", (out / f"held_out_{metric}.md").read_text(),
            f"Mean ± std over seeds of `{fit}` (kept points) and `{metric}` (held-out points) at the last step, "
            + (f"of `{whole}` on every point (kept and held-out together), " if whole in columns else "")
            + f"of both at the step with the best `{fit}` (chosen on the kept points only: choosing on the held-out "
            "points would leak them), "
            + ("the held-out score of linear interpolation between the kept points (no network; a reference to "
               "compare with), " if interp in columns else "")
            + "and the gap between fit and held-out. A gap near zero is a model that generalizes between the "
            "samples; a large gap one that memorizes the samples it saw.", "",
            *(f"![{png}]({png})\n" for png in pngs)]


@metric_section(order=50)
def held_out(rows: pd.DataFrame, metric: str, report: Report) -> list[str]:
    """Held-out tasks' rows (those with the metric's fit score): the fit beside the held-out score."""
    fit = declared(metric).fit
    return held_out_section(rows, metric, report.out) if fit in rows and rows[fit].notna().any() else []
