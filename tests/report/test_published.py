"""The published reports (results/): each has its rows in the repository, and the tables it shows are the
tables those rows give, so that anyone can rebuild a report, and check it, from what a clone holds."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.core.metrics import METRICS
from bench.api import results as rows_in
from bench.report.tables import cell_table, conversion_cells, metric_rows, scored_on_every_point, table_rows

RESULTS = Path(__file__).resolve().parents[2] / "results"
ELSEWHERE = {"gpu-check/quick-report": "gpu-check/quick",  # reports whose rows are not in their sweep/ folder
             "tuned/audio/test": "tuned/audio/sweep/test", "tuned/image/test": "tuned/image/sweep/test"}
# reports whose rows are not published yet, and why: the list must stay true (a test checks it)
NOT_YET = {"sdf": "the sweep's mesh (spot) is downloaded on first use; rerun where the network reaches it",
           "sdf/regression": "as sdf"}
REPORTS = sorted(str(env.parent.relative_to(RESULTS)) for env in RESULTS.glob("**/environment.json")
                 if "sweep" not in env.relative_to(RESULTS).parts)


def rows_of(report: str) -> Path:
    return RESULTS / ELSEWHERE.get(report, f"{report}/sweep")


def cells_of(results: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The cells (mean, std, n per signal and model) a report tabulates for ``metric``: a declared metric's
    own, or a declared metric's conversion (e.g. PSNR at peak 1) of the rows scored on every point."""
    if metric in METRICS:
        cells = cell_table(table_rows(results, metric), metric)
    else:
        base, conversion = next((name, c) for name, m in METRICS.items() for c in m.conversions if c.metric.name == metric)
        cells = conversion_cells(scored_on_every_point(metric_rows(results, base), base), conversion)
    return cells.rename(columns={"model_spec": "model", "count": "n"})


def test_the_reports_are_found():
    assert {"quick", "inits-2025", "budgets", "sdf/regression", "tuned/audio/test"} <= set(REPORTS)


def test_the_reports_without_rows_are_the_ones_named():
    assert {report for report in REPORTS if not any(rows_of(report).glob("*.parquet"))} == set(NOT_YET)


@pytest.mark.parametrize("report", [report for report in REPORTS if report not in NOT_YET])
def test_a_published_report_is_rebuilt_from_its_rows(report):
    rows = rows_of(report)
    assert any(rows.glob("*.parquet")), f"results/{report} has no rows at results/{rows.relative_to(RESULTS)}"
    results = rows_in(rows)  # as bench report reads them
    tables = sorted((RESULTS / report).glob("table_*.csv"))
    assert tables, f"results/{report} shows no table"
    for path in tables:
        published = pd.read_csv(path, keep_default_na=False, na_values=[""])
        metric = str(published["metric"].iloc[0])
        cells = cells_of(results, metric)
        merged = published.merge(cells, on=["signal", "model"], how="outer", suffixes=("", "_rows"), indicator=True)
        assert (merged["_merge"] == "both").all(), f"{path.name}: cells differ from the rows':\n" \
            f"{merged.loc[merged['_merge'] != 'both', ['signal', 'model', '_merge']]}"
        for column in ("mean", "std", "n"):
            np.testing.assert_allclose(merged[column].astype(float), merged[f"{column}_rows"].astype(float),
                                       rtol=1e-9, atol=1e-9, equal_nan=True, err_msg=f"{report}/{path.name}: {column}")
