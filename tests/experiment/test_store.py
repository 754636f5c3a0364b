"""The results store: round trip, whole files only, and nothing lost when a write fails."""

import errno
import math
import os
from pathlib import Path

import pandas as pd
import pytest

from bench.core.errors import BenchError
from bench.experiment.store import RESULTS_FILE, migrate, read_results, write_rows


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


def old_file(folder, run_id, **row):
    """A per-ensemble file as older versions wrote it: named by its run id, which its rows carry."""
    pd.DataFrame([row | {"run_id": run_id}]).to_parquet(folder / f"{run_id}.parquet")


def test_rows_of_an_older_version_are_read_then_merged_in_order(tmp_path):
    """Older versions wrote one file per ensemble, named by time: read as they are, merged by the next write."""
    old_file(tmp_path, "20260101T000000-aaaaaa", cell_key="c1", status="error", audio_col=1.0)
    old_file(tmp_path, "20260102T000000123456-bbbbbb", cell_key="c1", status="ok", image_col=2.0)
    assert read_results(tmp_path)[["cell_key", "status"]].values.tolist() == [["c1", "ok"]]
    write_rows(tmp_path, [{"cell_key": "c2", "status": "ok", "plugin_col": "x"}], run_id="new")
    assert sorted(p.name for p in tmp_path.iterdir()) == [RESULTS_FILE]
    plain = pd.read_parquet(tmp_path)
    assert plain["cell_key"].tolist() == ["c1", "c2"] and plain["image_col"].tolist()[0] == 2.0
    assert {"audio_col", "image_col", "plugin_col"} <= set(plain.columns)
    assert migrate(tmp_path) is None  # nothing left to merge


def test_a_failed_write_leaves_earlier_results_and_keeps_the_new_rows_beside(tmp_path):
    write_rows(tmp_path, rows(2), run_id="good")
    before = (tmp_path / RESULTS_FILE).read_bytes()
    with pytest.raises(BenchError, match=r"cannot store 1 rows .*kept in .*_unsaved-bad\.pkl"):
        write_rows(tmp_path, [{"handle": object()}], run_id="bad")  # pyarrow cannot serialise this row
    assert {p.name for p in tmp_path.iterdir()} == {RESULTS_FILE, "_unsaved-bad.pkl"}
    assert (tmp_path / RESULTS_FILE).read_bytes() == before
    assert len(read_results(tmp_path)) == 2  # Parquet readers skip the kept file


def test_a_full_disk_keeps_the_trained_rows_beside_and_says_where(tmp_path, monkeypatch):
    write_rows(tmp_path, rows(2), run_id="good")
    before = (tmp_path / RESULTS_FILE).read_bytes()
    replace = os.replace

    def full(source, target):  # the results file cannot be replaced; other files can
        if Path(target).name == RESULTS_FILE:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        replace(source, target)

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(BenchError) as err:
        write_rows(tmp_path, rows(3, model="finer"), run_id="full")
    kept = tmp_path / "_unsaved-full.pkl"
    assert str(err.value).startswith(f"cannot store 3 rows in {tmp_path / RESULTS_FILE} (No space left on device)")
    assert f"kept in {kept}" in str(err.value) and "\n" not in str(err.value)
    assert pd.read_pickle(kept)["model"].tolist() == ["finer"] * 3
    assert (tmp_path / RESULTS_FILE).read_bytes() == before
    assert {p.name for p in tmp_path.iterdir()} == {RESULTS_FILE, kept.name}  # no temp file left


def test_a_column_of_two_types_is_stored_as_text_and_no_row_is_lost(tmp_path):
    """A plugin's text ``w0`` beside siren's float one: both orders, in one write and across writes."""
    write_rows(tmp_path, [{"cell_key": "a", "status": "ok", "param.w0": 30.0}], run_id="siren")
    write_rows(tmp_path, [{"cell_key": "b", "status": "ok", "param.w0": "auto"}], run_id="plugin")
    write_rows(tmp_path, [{"cell_key": "c", "status": "ok", "param.w0": 60.0},
                          {"cell_key": "d", "status": "ok", "param.w0": None}], run_id="siren again")
    for frame in (read_results(tmp_path), pd.read_parquet(tmp_path)):
        assert frame["cell_key"].tolist() == ["a", "b", "c", "d"]
        assert frame["param.w0"].tolist()[:3] == ["30.0", "auto", "60.0"] and pd.isna(frame["param.w0"].iloc[3])
    write_rows(tmp_path / "one", [{"cell_key": "x", "status": "ok", "w": [1.0, 2.0]},
                                  {"cell_key": "y", "status": "ok", "w": 3.0}])
    assert read_results(tmp_path / "one")["w"].tolist() == ["[1.0, 2.0]", "3.0"]
    write_rows(tmp_path / "numbers", [{"cell_key": "x", "status": "ok", "w": 1},
                                      {"cell_key": "y", "status": "ok", "w": 2.5}])
    assert read_results(tmp_path / "numbers")["w"].tolist() == [1.0, 2.5]  # one Parquet type holds both: numbers


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
    old_file(tmp_path, "20250101T000000-aaaaaa", cell_key="x", status="error")
    write_rows(tmp_path, [{"cell_key": "x", "status": "ok"}], run_id="b")
    old_file(tmp_path, "20250101T000000-aaaaaa", cell_key="x", status="error")  # as if killed before the unlink
    assert read_results(tmp_path)[["cell_key", "status"]].values.tolist() == [["x", "ok"]]
    from bench.experiment.store import finished_cells
    assert finished_cells(tmp_path)[["cell_key", "status"]].values.tolist() == [["x", "ok"]]


@pytest.mark.parametrize("name, run_id", [("results-backup.parquet", "20250101T000000-aaaaaa"),
                                          ("20250101T000000-aaaaaa.parquet", "20250101T000000-bbbbbb"),
                                          ("20250101T000000-aaaaaa.parquet", None)])
def test_only_an_older_versions_own_files_are_merged_and_no_other_file_is_deleted(tmp_path, name, run_id):
    """A backup, or a file named like an old one whose rows are another run's, is named and left as it is."""
    write_rows(tmp_path, rows(2), run_id="good")
    intruder = tmp_path / name
    pd.DataFrame(rows(1, cell_key="c9") if run_id is None else [rows(1)[0] | {"run_id": run_id}]).to_parquet(intruder)
    files = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    for action in (lambda: write_rows(tmp_path, rows(1, model="finer"), run_id="new"), lambda: migrate(tmp_path),
                   lambda: read_results(tmp_path)):
        with pytest.raises(BenchError, match=f"cannot read results file {intruder}.*move it out of the directory"):
            action()
    assert {path.name: path.read_bytes() for path in tmp_path.iterdir() if path.suffix == ".parquet"} == files
    hidden = tmp_path / "_aside.parquet"  # Parquet readers skip "_" files: so does the store
    intruder.rename(hidden)
    write_rows(tmp_path, rows(1, model="finer"), run_id="new")
    assert hidden.is_file() and len(read_results(tmp_path)) == 3
