"""Summary tables: mean ± std of a metric over seeds, signals as rows and models as columns."""

from __future__ import annotations

import pandas as pd

from bench.errors import UsageError

METRICS = ("snr_db", "psnr_db")
FORMATS = ("markdown", "csv", "latex")


def summarize(results: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per (signal, model_spec): mean, std and count of ``metric`` over rows with status ok."""
    if metric not in results.columns:
        present = [m for m in METRICS if m in results.columns]
        raise UsageError(f"no column {metric!r} in these results; metrics present: {', '.join(present) or 'none'}")
    ok = results[(results["status"] == "ok") & results[metric].notna()]
    return (ok.groupby(["signal", "model_spec"])[metric].agg(["mean", "std", "count"])
            .reset_index())


def pivot(summary: pd.DataFrame, plus_minus: str = "±", digits: int = 2) -> pd.DataFrame:
    """Cells ``mean ± std (n=count)``; rows signals, columns models (std of a single seed shown as 0)."""
    std = summary["std"].fillna(0.0)
    cells = summary.assign(cell=summary["mean"].map(f"{{:.{digits}f}}".format) + f" {plus_minus} "
                           + std.map(f"{{:.{digits}f}}".format) + " (n=" + summary["count"].astype(str) + ")")
    table = cells.pivot(index="signal", columns="model_spec", values="cell").fillna("-")
    table.columns.name = None
    return table


def render(summary: pd.DataFrame, fmt: str) -> str:
    """The pivoted summary as Markdown, CSV or LaTeX (booktabs rules)."""
    if fmt == "markdown":
        return pivot(summary).to_markdown()
    if fmt == "csv":
        return pivot(summary).to_csv()
    if fmt == "latex":
        return pivot(summary, plus_minus=r"$\pm$").style.to_latex(hrules=True)
    raise UsageError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")


def status_counts(results: pd.DataFrame) -> pd.Series:
    """Rows per status (ok, diverged, error)."""
    return results["status"].value_counts().sort_index()
