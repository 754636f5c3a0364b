"""The fast paths from the command line: measured ensemble sizes, compile and precision flags, bench bench,
bench cache and the GPU check's CPU path."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from bench.cli import main
from bench.experiment.store import read_results
from bench.models import parse_model
from bench.perf.sizing import Sizer, cache_key
from bench.training import Problem, TrainConfig


@pytest.mark.slow
def test_a_step_that_cannot_compile_is_one_line_of_ours_once_per_shape(tmp_path, capsys):
    assert main(["run", "--model", "siren", "--task", "poisson-grad:camera", "--side", "16", "--width", "8",
                 "--layers", "1", "--steps", "2", "--seeds", "0-1", "--max-members", "1", "--device", "cpu",
                 "--compile", "on", "--no-progress", "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    notes = [line for line in err.splitlines() if "compile" in line and "deprecated" not in line]  # pytest shows those
    assert len(notes) == 1 and notes[0].startswith("bench: warning: poisson-grad: torch.compile cannot compile the "
                                                   "training step of 1 member(s) of widths 8-1 on 256 points"), err


def test_a_run_uses_the_measured_size_unless_max_members_fixes_it(relay_2k, _members_cache, tmp_path, capsys):
    problem = Problem(relay_2k, parse_model("siren"), 8, 2, TrainConfig())
    Sizer().members(problem, cap=4)  # a job of 3: sizes up to 4
    cache = json.loads(_members_cache.read_text())
    # as if one member at a time had measured fastest (the run below has TrainConfig's defaults but 5 steps:
    # the key holds no step count)
    cache[cache_key(problem, cap=4)]["members"] = 1
    _members_cache.write_text(json.dumps(cache))
    args = ["run", "--model", "siren", "--task", "audio:relay", "--max-samples", "2048", "--width", "8", "--layers", "2",
            "--steps", "5", "--seeds", "0-2", "--device", "cpu", "--no-progress"]
    assert main(args + ["--out", str(tmp_path / "tuned")]) == 0
    assert main(args + ["--out", str(tmp_path / "fixed"), "--max-members", "3"]) == 0
    assert read_results(tmp_path / "tuned")["ensemble_size"].tolist() == [1, 1, 1]
    assert read_results(tmp_path / "fixed")["ensemble_size"].tolist() == [3, 3, 3]


def test_a_sweep_budgets_measuring_against_every_job_of_the_shape(tmp_path, _members_cache, need):
    """Two clips of one length are two jobs of one shape: the measurement is sized for both (a sweep of
    many short jobs would otherwise afford only the first size for each and never batch)."""
    need("arch", "relay")
    spec = tmp_path / "two.toml"
    spec.write_text("seeds = [0, 1]\nwidths = 5\nlayers = 1\n[train]\nsteps = 7\n[models]\nsiren = {}\n"
                    "[[tasks]]\ntask = 'audio'\nsignals = ['arch', 'relay']\nmax_samples = 1000\n")
    assert main(["sweep", str(spec), "--out", str(tmp_path / "out"), "--no-progress", "--device", "cpu"]) == 0
    (entry,) = [v for k, v in json.loads(_members_cache.read_text()).items()
                if json.loads(k)["width"] == 5 and json.loads(k)["samples"] == 1000]
    assert entry["job_member_steps"] == 2 * 2 * 7  # both jobs' members x steps


@pytest.mark.parametrize("width, busy, measures_again", [(6, 0.0, False), (7, 0.9, True)])
def test_a_run_that_measured_says_how_long_and_its_share_and_a_warm_one_says_nothing(tmp_path, capsys, _members_cache,
                                                                                    width, busy, measures_again):
    """A warm run reads the sizes cached by a quiet measurement and says nothing; one measured while other
    processes held the CPUs (the entry's "busy" share, set here so that the machine's load cannot decide)
    is measured again."""
    args = ["run", "--model", "siren", "--task", "audio:relay", "--max-samples", "1024", "--width", str(width),
            "--layers", "1", "--steps", "40", "--seeds", "0-1", "--device", "cpu", "--no-progress"]  # shapes no other test measures
    assert main(args + ["--out", str(tmp_path / "first")]) == 0
    line = re.search(r"measuring took ([\d.]+) s of this run's ([\d.]+) s \((\d+)%\)", capsys.readouterr().err)
    assert line and 0 < float(line[1]) <= float(line[2])
    cache = json.loads(_members_cache.read_text())
    (key,) = [k for k in cache if json.loads(k)["width"] == width and json.loads(k)["samples"] == 1024]
    cache[key]["busy"] = busy
    _members_cache.write_text(json.dumps(cache))
    assert main(args + ["--out", str(tmp_path / "again")]) == 0
    assert ("measuring took" in capsys.readouterr().err) == measures_again


def test_bench_bench_prints_throughput_and_flops(capsys):
    assert main(["bench", "--config", "audio-cpu", "--max-samples", "2048", "--members", "1,2", "--steps", "6",
                 "--device", "cpu", "--format", "csv"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert table["members"].tolist() == [1, 2]
    macs = 64 + 3 * 64 * 64 + 64  # 4 x 64 on 1-D audio: per point, per member
    assert np.allclose(table["gflop_per_s"], table["samples_per_s"] * 6 * macs / 1e9)
    assert np.allclose(table["member_steps_per_s"], table["steps_per_s"] * table["members"])
    assert (table["peak_mem_mb"] > 0).all() and np.isfinite(table["snr_db"]).all()


def test_bench_bench_rejects_an_unknown_precision(capsys):
    assert main(["bench", "--precision", "fp16", "--members", "1", "--steps", "2", "--device", "cpu"]) == 2
    assert "unknown precision 'fp16'" in capsys.readouterr().err


def test_run_flags_compile_and_precision_reach_the_rows(tmp_path):
    base = ["run", "--model", "siren", "--task", "audio:relay", "--max-samples", "1024", "--width", "8",
            "--layers", "1", "--steps", "4", "--seeds", "0", "--device", "cpu", "--no-progress"]
    assert main(base + ["--out", str(tmp_path / "plain")]) == 0
    assert main(base + ["--out", str(tmp_path / "fast"), "--compile", "on", "--precision", "bf16"]) == 0
    plain, fast = read_results(tmp_path / "plain").iloc[0], read_results(tmp_path / "fast").iloc[0]
    assert (plain["compiled"], plain["precision"]) == (False, "fp32")
    assert (fast["compiled"], fast["precision"]) == (True, "bf16")
    assert fast["cell_key"] != plain["cell_key"]  # bf16 is another result; --compile alone would not be


def test_bench_bench_roofline_gives_a_floor_below_the_step_time(capsys):
    assert main(["bench", "--config", "image-cpu", "--side", "16", "--members", "2", "--steps", "6",
                 "--device", "cpu", "--roofline", "--format", "csv"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert (table["floor_ms"] > 0).all() and (table["floor_ms"] < table["step_ms"]).all()


def test_runs_are_eager_unless_asked_to_compile(tmp_path):
    """Compiling changes a member's numbers (and, on a CPU, with the thread count and ensemble size), so it is
    never chosen for the user: the default is eager, and the rows say how each was made."""
    base = ["run", "--model", "siren", "--task", "audio:relay", "--max-samples", "1024", "--width", "8", "--layers", "1",
            "--steps", "5", "--seeds", "0,1", "--device", "cpu", "--no-progress", "--max-members", "2"]
    assert main(base + ["--out", str(tmp_path / "default")]) == 0
    assert main(base + ["--out", str(tmp_path / "on"), "--compile", "on"]) == 0
    default, on = read_results(tmp_path / "default"), read_results(tmp_path / "on")
    assert not default["compiled"].any() and set(default["numerics"]) == {"eager"}
    threads = torch.get_num_threads()
    assert on["compiled"].all() and set(on["numerics"]) == {f"compiled, batch 2, {threads} thread{'s' * (threads > 1)}"}


@pytest.mark.parametrize("bad", [-1, 0, "x", None, 1.5, True])
def test_a_corrupt_ensemble_size_entry_is_measured_anew(relay_2k, _members_cache, tmp_path, bad):
    problem = Problem(relay_2k, parse_model("siren"), 8, 1, TrainConfig())
    key = cache_key(problem, 2)
    Sizer().members(problem, cap=2)
    cache = json.loads(_members_cache.read_text())
    cache[key]["members"] = bad
    _members_cache.write_text(json.dumps(cache))
    assert Sizer().members(problem, cap=2) in (1, 2)
    assert json.loads(_members_cache.read_text())[key]["members"] in (1, 2)  # measured again and stored
    cache = json.loads(_members_cache.read_text())
    cache[key] = {"members": bad, "member_steps_per_s": {"1": 10.0}}
    _members_cache.write_text(json.dumps(cache))
    out = tmp_path / "out"
    assert main(["run", "--model", "siren", "--task", "audio:relay", "--max-samples", "2048", "--width", "8",
                 "--layers", "1", "--steps", "3", "--seeds", "0-1", "--device", "cpu", "--no-progress",
                 "--out", str(out)]) == 0
    assert len(pd.read_parquet(out)) == 2


def test_bench_cache_shows_and_clears_the_three_caches(tmp_path, monkeypatch, capsys):
    measurements, learned = tmp_path / "members.json", tmp_path / "learned"
    compiled = tmp_path / "inr-bench" / "torch-compile"  # the project's own compile cache folder
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    monkeypatch.setenv("BENCH_MEMBERS_CACHE", str(measurements))
    monkeypatch.setenv("BENCH_LEARNED_CACHE", str(learned))
    measurements.write_text("{}")
    (compiled / "fxgraph").mkdir(parents=True)
    (compiled / "fxgraph" / "entry").write_bytes(b"x" * 2**20)
    learned.mkdir()
    (learned / f"strainer-{'0123456789' * 2}.pt").write_bytes(b"x" * 2**21)
    (learned / f"meta_learned-{'abcdef0123' * 2}.partial.pt").write_bytes(b"x")
    assert main(["cache"]) == 0
    out = capsys.readouterr().out
    assert f"measurements: {measurements} (0.0 MiB)" in out and f"compiled steps: {compiled} (1.0 MiB)" in out
    assert f"learned inits: {learned} (2.0 MiB)" in out
    assert main(["cache", "--clear"]) == 0
    assert not measurements.exists() and not compiled.exists() and not any(learned.iterdir())
    assert "left" not in capsys.readouterr().err
    assert main(["cache"]) == 0 and capsys.readouterr().out.count("(empty)") == 3


def test_bench_cache_clear_leaves_every_file_bench_did_not_write(tmp_path, monkeypatch, capsys):
    """Variables may point the caches at folders of the user's: only bench's own files go."""
    home, compiled, learned = tmp_path / "home", tmp_path / "torch-cache", tmp_path / "learned"
    monkeypatch.setenv("BENCH_MEMBERS_CACHE", str(home))  # a folder where bench's file was expected
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(compiled))  # the user's, shared with other programs
    monkeypatch.setenv("BENCH_LEARNED_CACHE", str(learned))
    kept = [home / "notes.txt", compiled / "fxgraph" / "entry", learned / "weights.pt", learned / "strainer-1.pt",
            learned / "sub" / f"strainer-{'0' * 20}.pt"]
    for path in kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("mine")
    ours = learned / f"strainer-{'0' * 20}.pt"
    ours.write_text("learned")
    assert main(["cache", "--clear"]) == 0
    err = capsys.readouterr().err
    assert all(path.read_text() == "mine" for path in kept) and not ours.exists()
    for said in (f"measurements: left 1 entries in {home}", "$BENCH_MEMBERS_CACHE",
                 f"compiled steps: left 1 entries in {compiled}", "$TORCHINDUCTOR_CACHE_DIR",
                 f"learned inits: left 3 entries in {learned}"):
        assert said in err, said


def test_bench_cache_clear_leaves_a_file_that_is_not_its_measurements(tmp_path, monkeypatch, capsys):
    """$BENCH_MEMBERS_CACHE naming a file of the user's (a results file, notes) does not make it bench's."""
    for name, text in (("results.parquet", "PAR1..."), ("notes.txt", "mine"), ("list.json", "[1, 2]")):
        victim = tmp_path / name
        victim.write_text(text)
        monkeypatch.setenv("BENCH_MEMBERS_CACHE", str(victim))
        assert main(["cache", "--clear"]) == 0
        assert victim.read_text() == text
        assert "names something other than bench's measurements file" in capsys.readouterr().err


def test_the_gpu_check_runs_its_cpu_path_and_skips_the_cuda_parts_in_one_line(tmp_path, need):
    need("relay")
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"
    result = subprocess.run([sys.executable, str(script), "--out", str(tmp_path), "--smoke", "--device", "cpu"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    summary = (tmp_path / "summary.md").read_text()
    assert "member 2 of 4 against its solo run, 20 steps eager: bit for bit equal" in summary
    assert "skipped without CUDA: compiled against eager, the throughput tables, `bench sweep quick`" in summary
