"""The results store: round trip, whole files only, and nothing lost when a write fails."""

import math

import pandas as pd
import pytest

from bench.errors import BenchError
from bench.store import RESULTS_FILE, migrate, read_results, write_rows


def rows(n, **extra):
    return [{"model": "siren", "seed": i, "snr_db": 1.5 * i, "diverged_step": None, "status": "ok"} | extra
            for i in range(n)]


def test_round_trip_in_one_file_and_a_cell_stored_once(tmp_path):
    first = write_rows(tmp_path, rows(2), run_id="a")
    assert first == tmp_path / RESULTS_FILE
    write_rows(tmp_path, rows(1, status="diverged", diverged_step=7), run_id="b")
    assert sorted(p.name for p in tmp_path.iterdir()) == [RESULTS_FILE]
    frame = read_results(tmp_path)
    assert len(frame) == 3 and list(frame["run_id"]) == ["a", "a", "b"]  # write order
    assert frame["snr_db"].tolist() == [0.0, 1.5, 0.0]
    assert frame["diverged_step"].dtype.kind == "f" and frame["diverged_step"].iloc[2] == 7
    assert math.isnan(frame["diverged_step"].iloc[0])
    written = pd.read_parquet(first)[["model", "seed", "snr_db", "status"]].to_dict("records")
    assert written[:2] == [{k: r[k] for k in ("model", "seed", "snr_db", "status")} for r in rows(2)]
    keyed = [{"cell_key": "c1", "status": "error", "error": "boom"}, {"cell_key": "c2", "status": "ok", "snr_db": 1.0}]
    write_rows(tmp_path / "keyed", keyed, run_id="x")
    write_rows(tmp_path / "keyed", [{"cell_key": "c1", "status": "ok", "snr_db": 2.0}], run_id="y")  # c1 run again
    stored = pd.read_parquet(tmp_path / "keyed")
    assert stored[["cell_key", "status", "run_id"]].values.tolist() == [["c2", "ok", "x"], ["c1", "ok", "y"]]


def test_rows_of_an_older_version_are_read_then_merged_in_order(tmp_path):
    """Older versions wrote one file per ensemble, named by time: read as they are, merged by the next write."""
    pd.DataFrame([{"cell_key": "c1", "status": "error", "audio_col": 1.0}]).to_parquet(tmp_path / "20260101T0-a.parquet")
    pd.DataFrame([{"cell_key": "c1", "status": "ok", "image_col": 2.0}]).to_parquet(tmp_path / "20260102T0-b.parquet")
    assert read_results(tmp_path)[["cell_key", "status"]].values.tolist() == [["c1", "ok"]]
    write_rows(tmp_path, [{"cell_key": "c2", "status": "ok", "plugin_col": "x"}], run_id="new")
    assert sorted(p.name for p in tmp_path.iterdir()) == [RESULTS_FILE]
    plain = pd.read_parquet(tmp_path)
    assert plain["cell_key"].tolist() == ["c1", "c2"] and plain["image_col"].tolist()[0] == 2.0
    assert {"audio_col", "image_col", "plugin_col"} <= set(plain.columns)
    assert migrate(tmp_path) is None  # nothing left to merge


def test_a_failed_write_leaves_earlier_results_and_no_partial_file(tmp_path):
    write_rows(tmp_path, rows(2), run_id="good")
    before = (tmp_path / RESULTS_FILE).read_bytes()
    with pytest.raises(Exception):
        write_rows(tmp_path, [{"model": object()}], run_id="bad")  # pyarrow cannot serialise this row
    assert sorted(p.name for p in tmp_path.iterdir()) == [RESULTS_FILE]
    assert (tmp_path / RESULTS_FILE).read_bytes() == before


def test_temp_files_of_an_interrupted_write_are_not_read(tmp_path):
    write_rows(tmp_path, rows(1), run_id="good")
    (tmp_path / ".crashed.parquet.tmp").write_bytes(b"PAR1 half a file")
    assert len(read_results(tmp_path)) == 1


def test_missing_empty_or_corrupt_results_are_clear_errors(tmp_path):
    with pytest.raises(BenchError, match="results directory not found"):
        read_results(tmp_path / "nope")
    with pytest.raises(BenchError, match="no results"):
        read_results(tmp_path)
    write_rows(tmp_path / "sweep", rows(1))
    with pytest.raises(BenchError, match="sweep inside it do: pass one"):
        read_results(tmp_path)
    (tmp_path / "junk.parquet").write_bytes(b"not parquet")
    with pytest.raises(BenchError, match="cannot read results file .*junk.parquet"):
        read_results(tmp_path)


def test_a_cells_current_row_is_the_latest_written_whatever_the_clock_says(tmp_path):
    """Write order decides, not ids or file names: a clock that moved back cannot let an old error row win."""
    write_rows(tmp_path, [{"cell_key": "c", "status": "error", "error": "boom"}], run_id="20991231T235959-zzzzzz")
    write_rows(tmp_path, [{"cell_key": "c", "status": "ok", "snr_db": 3.0}], run_id="20000101T000000-aaaaaa")
    for frame in (read_results(tmp_path), pd.read_parquet(tmp_path)):
        assert frame[["cell_key", "status"]].values.tolist() == [["c", "ok"]]


def test_a_merge_killed_before_removing_the_old_files_keeps_the_newer_row(tmp_path):
    old = pd.DataFrame([{"cell_key": "x", "status": "error", "run_id": "20250101T0-aaaaaa"}])
    old.to_parquet(tmp_path / "20250101T0-aaaaaa.parquet")
    write_rows(tmp_path, [{"cell_key": "x", "status": "ok"}], run_id="b")
    old.to_parquet(tmp_path / "20250101T0-aaaaaa.parquet")  # as if killed after the rename, before the unlink
    assert read_results(tmp_path)[["cell_key", "status"]].values.tolist() == [["x", "ok"]]
    from bench.store import finished_cells
    assert finished_cells(tmp_path)[["cell_key", "status"]].values.tolist() == [["x", "ok"]]
