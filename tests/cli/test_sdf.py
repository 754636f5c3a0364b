"""The sdf task end to end: a fit scored, summarized, reported and drawn, SIREN's loss with minibatches."""

import numpy as np
import pandas as pd
import pytest

from bench.cli import main


trimesh = pytest.importorskip("trimesh", reason="the sdf extra (pip install -e \".[sdf]\"); CI installs it")


@pytest.mark.slow
def test_a_fit_is_scored_summarized_reported_and_drawn(tmp_path, capsys):
    out = tmp_path / "runs"
    assert main(["run", "--task", "sdf:synthetic:sphere", "--model", "siren", "--seeds", "0", "--surface-points",
                 "2000", "--batch-size", "1000", "--eval-every", "100", "--grid", "24", "--steps", "300", "--width",
                 "32", "--layers", "2", "--loss", "regression", "--device", "cpu", "--out", str(out)]) == 0
    summary = capsys.readouterr().out
    assert "sdf_rmse=" in summary and "iou=" in summary and "chamfer=" in summary
    row = pd.read_parquet(out / "results.parquet").iloc[0]
    assert row["main_metric"] == "sdf_rmse" and row["sdf_rmse"] < row["curve_sdf_rmse"][0]  # it learned
    assert 0 < row["iou"] <= 1 and row["chamfer"] > 0 and len(row["sdf_field"]) == 22**3
    assert main(["report", str(out), "--out", str(tmp_path / "report")]) == 0
    readme = (tmp_path / "report" / "README.md").read_text()
    assert "surface_synthetic_sphere.png" in readme and (tmp_path / "report" / "table_iou.md").exists()
    assert (tmp_path / "report" / "surface_synthetic_sphere.png").stat().st_size > 10_000


def test_sirens_loss_trains_end_to_end_with_minibatches(tmp_path):
    out = tmp_path / "runs"
    assert main(["run", "--task", "sdf:synthetic:torus", "--model", "siren", "--seeds", "0", "--surface-points", "1000",
                 "--batch-size", "500", "--eval-every", "10", "--grid", "16", "--steps", "40", "--width", "32",
                 "--layers", "2", "--device", "cpu", "--compile", "off", "--out", str(out)]) == 0
    row = pd.read_parquet(out / "results.parquet").iloc[0]
    assert row["status"] == "ok" and row["loss"] == "siren" and np.isfinite(row["sdf_rmse"])
    assert len(set(np.round(row["curve_sdf_rmse"], 6))) > 1 and row["iou"] > 0  # it trained, and has an inside
