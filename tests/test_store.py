"""The results store: round trip, whole files only, and nothing lost when a write fails."""

import math

import pandas as pd
import pytest

from bench.errors import BenchError
from bench.store import read_results, write_rows


def rows(n, **extra):
    return [{"model": "siren", "seed": i, "snr_db": 1.5 * i, "diverged_step": None, "status": "ok"} | extra
            for i in range(n)]


def test_round_trip_and_recursive_read(tmp_path):
    first = write_rows(tmp_path, rows(2), run_id="a")
    write_rows(tmp_path / "nested", rows(1, status="diverged", diverged_step=7), run_id="b")
    assert first == tmp_path / "a.parquet"
    frame = read_results(tmp_path)
    assert len(frame) == 3 and list(frame["run_id"]) == ["a", "a", "b"]
    assert frame["snr_db"].tolist() == [0.0, 1.5, 0.0]
    assert frame["diverged_step"].dtype.kind == "f" and frame["diverged_step"].iloc[2] == 7
    assert math.isnan(frame["diverged_step"].iloc[0])
    written = pd.read_parquet(first)[["model", "seed", "snr_db", "status"]].to_dict("records")
    assert written == [{k: r[k] for k in ("model", "seed", "snr_db", "status")} for r in rows(2)]


def test_a_failed_write_leaves_earlier_results_and_no_partial_file(tmp_path):
    write_rows(tmp_path, rows(2), run_id="good")
    before = (tmp_path / "good.parquet").read_bytes()
    with pytest.raises(Exception):
        write_rows(tmp_path, [{"model": object()}], run_id="bad")  # pyarrow cannot serialise this row
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.parquet"]
    assert (tmp_path / "good.parquet").read_bytes() == before


def test_temp_files_of_an_interrupted_write_are_not_read(tmp_path):
    write_rows(tmp_path, rows(1), run_id="good")
    (tmp_path / ".crashed.parquet.tmp").write_bytes(b"PAR1 half a file")
    assert len(read_results(tmp_path)) == 1


def test_missing_empty_or_corrupt_results_are_clear_errors(tmp_path):
    with pytest.raises(BenchError, match="results directory not found"):
        read_results(tmp_path / "nope")
    with pytest.raises(BenchError, match="no results"):
        read_results(tmp_path)
    (tmp_path / "junk.parquet").write_bytes(b"not parquet")
    with pytest.raises(BenchError, match="cannot read results file .*junk.parquet"):
        read_results(tmp_path)
