"""The fast paths give the numbers of the plain ones: batched ensembles against the plain reference loop
of benchmarks/, torch.compile against eager, reduced precision leaving layer 0 exact."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from bench.cli import main
from bench.core.errors import BenchWarning, UsageError
from bench.models import Architecture, MemberSpec, build_ensemble, parse_model
from bench.core.provenance import device_name
from bench.perf.cpu_share import busy_seconds, others_share
from bench.perf.sizing import Sizer, cache_key, fastest_size
from bench.experiment.store import read_results
from bench.tasks import load_task
from bench.training import Problem, TrainConfig, train
from benchmarks.reference import fit, siren

STEPS = 60


def _ensemble(task, seeds, width=32, layers=3):
    specs = [MemberSpec(parse_model("siren"), seed) for seed in seeds]
    return build_ensemble(specs, Architecture.of(task.info, width, layers), task.info)[0]


def _member_as_sequential(model, k: int) -> torch.nn.Sequential:
    """Member k's weights copied into the reference loop's nn.Sequential SIREN."""
    w0s = model.omegas[:, k].flatten().tolist()
    net = siren(model.weights[0].shape[2], model.weights[0].shape[1], len(w0s), model.weights[-1].shape[1],
                w0=w0s[1], w0_first=w0s[0])
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for linear, weights, bias in zip(linears, model.weights, model.biases):
            linear.weight.copy_(weights[k])
            linear.bias.copy_(bias[k, 0])
    return net


def test_batched_member_trains_like_the_plain_reference_loop(relay_2k):
    model = _ensemble(relay_2k, seeds=[0, 1, 2])
    plain = _member_as_sequential(model, 1)
    outcome = train(model, relay_2k, TrainConfig(steps=STEPS, lr=1e-4), progress=False)
    mse = fit(plain, relay_2k.coords, relay_2k.target, STEPS, lr=1e-4)
    reference_snr = float(relay_2k.metric_from_mse(torch.tensor([mse]))[0])
    member = outcome.members[1]
    assert member.final - member.curve[0] > 2.0  # it learned, so the comparison means something
    # (at lr 1e-3 the w0 = 3000 dynamics amplify float rounding: both paths drift apart after ~20 steps)
    assert member.final == pytest.approx(reference_snr, abs=1e-3)


def test_compiled_step_gives_the_eager_metrics(camera_32):
    cfg = TrainConfig(steps=STEPS, lr=1e-3)
    eager = train(_ensemble(camera_32, seeds=[0, 1]), camera_32, cfg, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", BenchWarning)  # a fallback to eager would not test compilation
        compiled = train(_ensemble(camera_32, seeds=[0, 1]), camera_32, cfg, progress=False, compile=True)
    for a, b in zip(eager.members, compiled.members):
        assert a.final > 15.0
        assert b.final == pytest.approx(a.final, abs=0.05)


def test_compile_falls_back_to_eager_where_it_cannot_work(library):
    task = load_task("poisson-grad:camera", library, {"side": 24})  # double backward: not compilable
    cfg = TrainConfig(steps=10, lr=1e-3)
    eager = train(_ensemble(task, seeds=[0]), task, cfg, progress=False)
    with pytest.warns(BenchWarning, match="poisson-grad: torch.compile cannot compile the training step of 1 "
                                          r"member\(s\) of widths .* on 576 points \(RuntimeError: .*double backward"):
        fallback = train(_ensemble(task, seeds=[0]), task, cfg, progress=False, compile=True)
    assert fallback.members[0].final == eager.members[0].final


def test_a_step_that_cannot_compile_is_one_line_of_ours_once_per_shape(tmp_path, capsys):
    assert main(["run", "--model", "siren", "--task", "poisson-grad:camera", "--side", "16", "--width", "8",
                 "--layers", "1", "--steps", "2", "--seeds", "0-1", "--max-members", "1", "--device", "cpu",
                 "--compile", "on", "--no-progress", "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    notes = [line for line in err.splitlines() if "compile" in line and "deprecated" not in line]  # pytest shows those
    assert len(notes) == 1 and notes[0].startswith("bench: warning: poisson-grad: torch.compile cannot compile the "
                                                   "training step of 1 member(s) of widths 8-1 on 256 points"), err


def test_training_in_bf16_leaves_the_model_in_its_own_precision(relay_2k):
    model = _ensemble(relay_2k, seeds=[0])
    outcome = train(model, relay_2k, TrainConfig(steps=3, precision="bf16"), progress=False)
    with torch.no_grad():  # a final NTK after training runs as the initial one did: in fp32
        assert torch.equal(model(relay_2k.coords), model(relay_2k.coords, "fp32"))
        assert not torch.equal(model(relay_2k.coords), model(relay_2k.coords, "bf16"))
    assert outcome.members[0].status == "ok"


def test_reduced_precision_keeps_layer_0_exact(relay_2k):
    model = _ensemble(relay_2k, seeds=[0, 1])
    exact = [z for z, _ in model.hidden_layers(relay_2k.coords)]
    rounded = [z for z, _ in model.hidden_layers(relay_2k.coords, "bf16")]
    torch.testing.assert_close(rounded[0], exact[0], rtol=1e-6, atol=1e-6)
    assert not torch.allclose(rounded[1], exact[1], rtol=1e-4, atol=1e-5)  # later layers do round
    torch.testing.assert_close(rounded[1], exact[1], rtol=0.05, atol=0.02)


def test_unknown_precision_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown precision 'fp16'"):
        TrainConfig(precision="fp16")


def test_choose_takes_the_largest_size_within_five_percent_of_the_fastest():
    assert fastest_size({1: 10.0, 2: 19.5, 4: 20.0, 8: 12.0}) == 4
    assert fastest_size({1: 10.0, 2: 9.6, 4: 5.0}) == 2
    assert fastest_size({1: 10.0, 2: 9.0}) == 1


def test_ensemble_size_is_measured_once_then_read_from_the_cache(relay_2k, _members_cache):
    problem = Problem(relay_2k, parse_model("siren"), 16, 2, TrainConfig())
    size = Sizer().members(problem, cap=4)
    key = cache_key(problem, cap=4)  # this entry alone (other tests cache other shapes)
    entry = json.loads(_members_cache.read_text())[key]
    assert size == entry["members"] == fastest_size({int(k): v for k, v in entry["member_steps_per_s"].items()})
    assert set(entry["member_steps_per_s"]) <= {"1", "2", "4"} and "1" in entry["member_steps_per_s"]
    cache = json.loads(_members_cache.read_text())
    cache[key]["members"] = 3
    _members_cache.write_text(json.dumps(cache))
    assert Sizer().members(problem, cap=4) == 3  # read back, not measured again


def test_measuring_a_short_job_times_fewer_sizes_and_a_longer_job_measures_again(relay_2k, _members_cache):
    """Measuring aims at a share of the job: 20 member-steps afford only the first size; a job of a
    million member-steps may time every size, so the short job's entry is not reused for it."""
    short = Problem(relay_2k, parse_model("siren"), 40, 2, TrainConfig(steps=10))
    Sizer().members(short, cap=8, member_steps=20)
    key = cache_key(short, cap=8)
    entry = json.loads(_members_cache.read_text())[key]
    assert list(entry["member_steps_per_s"]) == ["1"] and entry["complete"] is False
    assert entry["job_member_steps"] == 20
    long = short.with_train(TrainConfig(steps=125_000))
    Sizer().members(long, cap=8)
    again = json.loads(_members_cache.read_text())[key]
    assert again["job_member_steps"] == 1_000_000 and len(again["member_steps_per_s"]) >= 2
    Sizer().members(short, cap=8, member_steps=20)  # the longer measurement serves the short job
    assert json.loads(_members_cache.read_text())[key] == again


def test_cache_keys_keep_their_fields_so_measured_caches_stay_valid(relay_2k):
    """The key of each measurement, built by hand from the JSON fields it has always had."""
    device, version = device_name(relay_2k.coords.device), torch.__version__
    plain = Problem(relay_2k, parse_model("siren"), 16, 2, TrainConfig())
    assert cache_key(plain, 4) == (f'{{"cap": 4, "d_in": 1, "d_out": 1, "device": {json.dumps(device)}, "layers": 2, '
                                   f'"model": "siren", "precision": "fp32", "samples": 2048, "task": "audio", '
                                   f'"torch": {json.dumps(version)}, "width": 16}}')
    settings = [("siren", TrainConfig(steps=7, lr=1e-3, lr_step=2)),
                ("gauss", TrainConfig(batch_size=512, precision="bf16")), ("finer", TrainConfig(batch_size=10**6))]
    for model, cfg in settings:
        problem = Problem(relay_2k, parse_model(model), 24, 3, cfg)
        fields = {"device": device, "torch": version, "task": "audio", "model": model, "d_in": 1, "d_out": 1,
                  "width": 24, "layers": 3, "samples": min(cfg.batch_size or 2048, 2048), "precision": cfg.precision,
                  "cap": 8}
        assert cache_key(problem, 8) == json.dumps(fields, sort_keys=True)


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


def test_a_run_that_measured_says_how_long_and_its_share_and_a_warm_one_says_nothing(tmp_path, capsys):
    args = ["run", "--model", "siren", "--task", "audio:relay", "--max-samples", "1024", "--width", "6", "--layers", "1",
            "--steps", "40", "--seeds", "0-1", "--device", "cpu", "--no-progress"]  # a shape no other test measures
    assert main(args + ["--out", str(tmp_path / "first")]) == 0
    line = re.search(r"measuring took ([\d.]+) s of this run's ([\d.]+) s \((\d+)%\)", capsys.readouterr().err)
    assert line and 0 < float(line[1]) <= float(line[2])
    assert main(args + ["--out", str(tmp_path / "again")]) == 0
    assert "measuring took" not in capsys.readouterr().err  # read from the cache


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


@pytest.mark.parametrize("ensemble_size", [1, 3])
def test_a_member_computes_the_same_numbers_whatever_the_ensemble_size(relay_2k, ensemble_size):
    """The measured ensemble size must not change results: at lr 1e-3 a 1-ulp difference grows into dB."""
    def final(size: int) -> float:
        model = _ensemble(relay_2k, seeds=range(size), width=32, layers=3)
        return train(model, relay_2k, TrainConfig(steps=60, lr=1e-3), progress=False).members[0].final

    assert final(ensemble_size) == final(2)


def test_a_corrupt_members_cache_is_measured_anew(relay_2k, tmp_path, monkeypatch):
    path = tmp_path / "members.json"
    path.write_text("{not json")
    monkeypatch.setenv("BENCH_MEMBERS_CACHE", str(path))
    size = Sizer().members(Problem(relay_2k, parse_model("siren"), 8, 1, TrainConfig()), cap=2)
    assert size in (1, 2)
    assert [entry["members"] for entry in json.loads(path.read_text()).values()] == [size]


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


def test_a_size_choice_made_under_load_is_measured_again(relay_2k, _members_cache):
    """A CPU kept busy by another process while sizes are timed is recorded; the next process re-measures."""
    problem = Problem(relay_2k, parse_model("siren"), 24, 1, TrainConfig())
    key = cache_key(problem, cap=4)
    cache = json.loads(_members_cache.read_text()) if _members_cache.is_file() else {}
    cache[key] = {"members": 3, "member_steps_per_s": {"1": 1.0, "2": 1.0, "4": 1.0}, "busy": 0.9}
    _members_cache.write_text(json.dumps(cache))
    assert Sizer().members(problem, cap=4) in (1, 2, 4)  # 3 was never a candidate
    assert json.loads(_members_cache.read_text())[key]["member_steps_per_s"] != {"1": 1.0, "2": 1.0, "4": 1.0}




def test_the_cpu_share_of_others_leaves_out_our_own_time():
    """The arithmetic of a timing's load note, on /proc/stat lines written here (a test that read the
    machine's own load would pass or fail with it)."""
    before = "cpu  1000 200 300 9000 10 20 30 40 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n"
    after = "cpu  1100 400 350 9100 10 25 35 40 0 0\n"  # +100 user, +200 nice, +50 system, +5 irq, +5 softirq
    assert busy_seconds(after, 100) - busy_seconds(before, 100) == pytest.approx(3.6)
    assert others_share(3.6, 0.6, 2.0, 2) == pytest.approx(0.75)  # 3 of the 4 CPU-seconds were others'
    assert others_share(0.5, 0.9, 2.0, 2) == 0.0 and others_share(1.0, 0.0, 0.0, 2) == 0.0
    with pytest.raises(ValueError):
        busy_seconds("intr 1 2 3\n", 100)
    assert busy_seconds(Path("/proc/stat").read_text(), 100) > 0  # the real file has that form


def test_threads_auto_takes_every_cpu_whatever_the_load():
    """The thread count is not chosen by load: it changes the numbers of some tasks (the sdf task's SIREN
    loss, MAML's learning), so the same command must get the same count on an idle and a busy machine."""
    from bench.perf.threads import available_cpus, set_threads

    threads = torch.get_num_threads()
    try:
        assert set_threads("1") == "1 thread (--threads)" and torch.get_num_threads() == 1
        with pytest.raises(UsageError, match="--threads must be auto or a number of threads from 1 to 1024, got 'x'"):
            set_threads("x")
        said = set_threads("auto")
        assert torch.get_num_threads() == available_cpus() and said.startswith(f"{available_cpus()} thread")
    finally:
        torch.set_num_threads(threads)


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
    assert f"measurements: left 1 entries in {home} as they are ($BENCH_MEMBERS_CACHE names something" in err
    assert f"compiled steps: left 1 entries in {compiled} as they are ($TORCHINDUCTOR_CACHE_DIR names a folder " \
           f"bench does not own" in err
    assert f"learned inits: left 3 entries in {learned} as they are (not learned inits that bench wrote)" in err


def test_bench_cache_clear_leaves_a_file_that_is_not_its_measurements(tmp_path, monkeypatch, capsys):
    """$BENCH_MEMBERS_CACHE naming a file of the user's (a results file, notes) does not make it bench's."""
    for name, text in (("results.parquet", "PAR1..."), ("notes.txt", "mine"), ("list.json", "[1, 2]")):
        victim = tmp_path / name
        victim.write_text(text)
        monkeypatch.setenv("BENCH_MEMBERS_CACHE", str(victim))
        assert main(["cache", "--clear"]) == 0
        assert victim.read_text() == text
        assert "names something other than bench's measurements file" in capsys.readouterr().err


def test_compiled_steps_land_in_the_project_cache_though_torch_set_its_own_default(relay_2k, tmp_path, monkeypatch):
    from bench.core.caches import _torch_default

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # the project's cache folder moves here
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", _torch_default())  # what importing torch._dynamo does
    problem = Problem(relay_2k, parse_model("siren"), 5, 3, TrainConfig(steps=3))  # a shape no other test compiles
    assert train(problem.ensemble(1), relay_2k, problem.train, progress=False, compile=True).compiled
    assert any(path.is_file() for path in (tmp_path / "inr-bench" / "torch-compile").rglob("*"))


def test_the_gpu_check_runs_its_cpu_path_and_skips_the_cuda_parts_in_one_line(tmp_path, need):
    need("relay")
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu_check.py"
    result = subprocess.run([sys.executable, str(script), "--out", str(tmp_path), "--smoke", "--device", "cpu"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    summary = (tmp_path / "summary.md").read_text()
    assert "member 2 of 4 against its solo run, 20 steps eager: bit for bit equal" in summary
    assert "skipped without CUDA: compiled against eager, the throughput tables, `bench sweep quick`" in summary
