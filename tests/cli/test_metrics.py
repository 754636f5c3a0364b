"""Metric columns end to end: runs record them and the steps to each level, tables compute those for older rows,
and a plugin metric that would overwrite a column is one usage error."""

import numpy as np
import pandas as pd
import pytest

from bench.cli import main


def test_runs_record_the_new_metric_columns(tmp_path, need):
    need("relay", "camera")
    for task, option, columns in (("audio:relay", ["--max-samples", "1024"], ["si_snr_db", "lsd"]),
                                  ("image:camera", ["--side", "24"], ["ssim"])):
        out = tmp_path / task.split(":")[0]
        assert main(["run", "--model", "siren", "--task", task, *option, "--width", "16", "--layers", "2",
                     "--steps", "5", "--seeds", "0", "--out", str(out), "--no-progress"]) == 0
        rows = pd.concat(pd.read_parquet(p) for p in out.glob("*.parquet"))
        for column in columns:
            assert rows[column].notna().all()


def test_runs_record_steps_to_each_level_and_reports_compute_them_for_older_rows(tmp_path, capsys, need):
    """The columns a run writes equal what its own curve gives; rows stored without them get them on read."""
    need("arch")
    out = tmp_path / "run"
    assert main(["run", "--model", "siren", "--task", "audio:arch", "--max-samples", "1024", "--width", "64",
                 "--layers", "2", "--steps", "200", "--lr", "1e-3", "--seeds", "0", "--device", "cpu",
                 "--out", str(out), "--no-progress"]) == 0
    row = pd.read_parquet(out).iloc[0]
    curve = np.asarray(row["curve_snr_db"])
    reached = [step for step, value in zip(row["curve_steps"], curve) if value >= 20]
    assert row["snr_db"] > 20 and row["steps_to_20_snr_db"] == reached[0]
    assert row["seconds_to_20_snr_db"] == pytest.approx(reached[0] * row["seconds"] / 200)
    assert np.isnan(row["steps_to_40_snr_db"]) == (curve.max() < 40)
    older = tmp_path / "older"
    older.mkdir()
    pd.read_parquet(out).drop(columns=[c for c in row.index if "_to_" in c]).to_parquet(older / "results.parquet")
    capsys.readouterr()
    assert main(["table", str(older), "--metric", "steps_to_20_snr_db"]) == 0
    assert f"| **{int(reached[0])}** " in capsys.readouterr().out


def test_steps_to_levels_of_held_out_curves_and_of_merged_files_without_curves(tmp_path, capsys, need):
    need("arch")
    out = tmp_path / "inpaint"
    assert main(["run", "--model", "siren", "--task", "inpaint-audio:arch", "--max-samples", "512", "--width", "16",
                 "--layers", "1", "--steps", "20", "--seeds", "0", "--device", "cpu", "--out", str(out),
                 "--no-progress"]) == 0
    row = pd.read_parquet(out).iloc[0]
    assert "steps_to_20_snr_db" in row.index  # the held-out snr_db's levels, from its own curve
    merged = tmp_path / "merged"
    merged.mkdir()
    rows = pd.read_parquet(out)
    old = "20250101T000000-aaaaaa"  # two files of an older version (named by the run id they hold), one without curves
    rows.assign(run_id=old).to_parquet(merged / f"{old}.parquet")
    rows.drop(columns=[c for c in rows.columns if c.startswith("curve_") or "_to_" in c]).assign(
        cell_key="0123456789abcdef", seed=1, run_id=old[:-1] + "b").to_parquet(merged / f"{old[:-1]}b.parquet")
    capsys.readouterr()
    assert main(["table", str(merged), "--metric", "snr_db"]) == 0


@pytest.mark.parametrize("declaration, problem", [
    ('Metric("width", "width (px)")', "'width' cannot be a metric column"),
    ('Metric("seed", "seed")', "'seed' cannot be a metric column"),
    ('Metric("status", "status")', "'status' cannot be a metric column"),
    ('Metric("crispness", "crispness", digits=-1)', "metric 'crispness': digits"),
])
def test_a_plugin_metric_named_like_a_column_or_with_no_count_of_decimals_is_one_usage_error(
        tmp_path, capsys, declaration, problem):
    from bench.core.metrics import METRICS

    plugin = tmp_path / "scores.py"
    plugin.write_text(f"from bench.core.metrics import Metric, declare_metric\n\ndeclare_metric({declaration})\n")
    assert main(["--plugin", str(plugin), "list", "models"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"bench: error: plugin {plugin}: {problem}"), line
    assert {"width", "seed", "status", "crispness"}.isdisjoint(METRICS)  # nothing declared: no column overwritten
