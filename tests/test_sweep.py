"""Sweeps: spec validation, grid expansion and stable keys, packing, resume after SIGKILL, failures as data."""

import dataclasses
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest
import torch

from bench.cli import main
from bench.core.errors import UsageError
from bench.models import parse_model
from bench.experiment.store import RESULTS_FILE, read_results
from bench.experiment.plan import Cell, cell_count, expand, pack
from bench.experiment.spec import parse_seeds, parse_spec
from bench.training import TrainConfig

SPEC = """
name = "t"
seeds = "0-1"
widths = [16, 32]
layers = 2
[train]
steps = 10
[models]
siren = {}
siren2 = {S0 = [0.01, 0.1], a = [10, 100]}
[[tasks]]
task = "audio"
signals = ["arch", "synthetic:hf_noise"]
max_samples = [256, 512]
"""


def spec_of(text, library):
    return parse_spec(textwrap.dedent(text), "test.toml", library)


def test_grid_expands_to_every_combination_with_unique_stable_keys(library):
    spec = spec_of(SPEC, library)
    assert len(spec.models) == 1 + 4 and spec.models[1].params == {"S0": 0.01, "a": 10.0}
    cells = expand(spec)
    assert len(cells) == 5 * 2 * 2 * 2 * 2  # models x signals x max_samples x widths x seeds
    keys = [cell.key for cell in cells]
    assert len(set(keys)) == len(keys)
    assert keys == [cell.key for cell in expand(spec_of(SPEC, library))]


def test_cell_key_is_fixed_across_versions_and_changes_with_the_setting():
    cell = Cell("audio", "arch", (("max_samples", 4096),), 64, 3, TrainConfig(steps=300, lr=3e-4),
                parse_model("siren2:S0=0.05"), 1, "c6d81b44b2276c3437a606efa7d938f302c9a1ea88bf72aac2d5019fddf9ad44")
    # changing it orphans every stored result: only on purpose, with plan.TARGET_REVISION (2: official audio order)
    assert cell.key == "56864c6367c79cb2"
    canonical = {"task": "audio", "signal": "arch", "options": {"max_samples": 4096}, "width": 64, "layers": 3,
                 "train": {"steps": 300, "lr": 3e-4, "lr_step": None, "lr_gamma": 1.0, "batch_size": None,
                           "eval_every": 100, "batch_seed": 0}, "model": "siren2", "params": {"S0": 0.05}, "seed": 1,
                 "content": cell.fingerprint, "revision": 2}
    assert cell.key == hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()[:16]
    variants = [dataclasses.replace(cell, **{field: value}) for field, value in [
        ("seed", 2), ("width", 65), ("signal", "relay"), ("options", (("max_samples", 4097),)),
        ("train", TrainConfig(steps=300, lr=1e-4)), ("model", parse_model("siren2:S0=0.06")),
        ("fingerprint", "61de3e16a2a766e9")]]
    assert len({cell.key} | {v.key for v in variants}) == 1 + len(variants)


def test_packing_shares_ensembles_only_where_everything_but_seed_and_params_match(library):
    cells = expand(spec_of(SPEC, library))
    jobs = pack(cells, max_members=16)
    assert len(jobs) == 2 * 2 * 2  # signals x max_samples x widths; 5 models x 2 seeds = 10 members each
    for job in jobs:
        assert len(job) == 10 and len({(c.task_key, c.width, c.train) for c in job.cells}) == 1
    split = pack(cells, max_members=4)
    assert sorted(len(job) for job in split) == sorted([3, 3, 4] * 8)  # near-equal parts of 10
    assert sorted(c.key for job in split for c in job.cells) == sorted(c.key for c in cells)


@pytest.mark.parametrize("text, message", [
    ("seeds = 1\nbogus = 2\n", "test.toml: bogus: unknown key"),
    ("seeds = 1\n[[tasks]]\ntask = 'audio'\nsignals = ['arch']\n", "test.toml: models: missing"),
    ("seeds = 1\n[models]\nsiren = {}\n", "test.toml: tasks: missing"),
    ("seeds = 1\n[models]\nsirn = {}\n", "test.toml: models.sirn: unknown model 'sirn'"),
    ("seeds = 1\n[models]\nsiren2 = {S1 = 0.1}\n", "test.toml: models.siren2.S1: unknown parameter; valid keys: S0"),
    ("seeds = 1\n[models]\nsiren2 = {S0 = [0.1, 'x']}\n", "test.toml: models.siren2.S0: 'x' is not a valid float"),
    ("seeds = 1\nwidths = [64, 0]\n[models]\nsiren = {}\n", "test.toml: widths: expected an integer >= 1"),
    ("seeds = '3-1'\n[models]\nsiren = {}\n", "test.toml: seeds: seeds '3-1' names no seed"),
    ("seeds = '9223372036854775808'\n[models]\nsiren = {}\n", "test.toml: seeds: seeds '9223372036854775808' must "
                                                               "name non-negative seeds below 2^63"),
    ("seeds = []\n[models]\nsiren = {}\n", "test.toml: seeds: empty list"),
    ("seeds = 1\nwidths = []\n[models]\nsiren = {}\n", "test.toml: widths: empty list"),
    ("seeds = 1\n[models]\nsiren2 = {S0 = []}\n", "test.toml: models.siren2.S0: empty list"),
    ("seeds = 1\n[models]\nsiren = {}\n[[tasks]]\ntask = 'audio'\nsignals = ['arch']\nmax_samples = []\n",
     "test.toml: tasks[0].max_samples: empty list"),
    ("seeds = 1\n[models]\nsiren = {}\n[[tasks]]\ntask = 'audio'\nsignals = []\n",
     "test.toml: tasks[0].signals: expected a non-empty list"),
    ("seeds = 1\n[models]\nsiren2 = {S0 = nan}\n", "test.toml: models.siren2.S0: nan must be a finite number"),
    ("seeds = 1\n[models]\nsiren2 = {S0 = inf}\n", "test.toml: models.siren2.S0: inf must be a finite number"),
    ("seeds = 1\n[models]\nsiren = {w0 = 0}\n", "test.toml: models.siren.w0: 0 must be > 0"),
    ("seeds = 1\n[models]\nwinner = {s1 = -0.5}\n", "test.toml: models.winner.s1: -0.5 must be >= 0"),
    ("name = '../../etc'\nseeds = 1\n[models]\nsiren = {}\n", "test.toml: name: '../../etc' is not a plain name"),
    ("name = ''\nseeds = 1\n[models]\nsiren = {}\n", "test.toml: name: '' is not a plain name"),
    ("seeds = 1\n[train]\nlr = -1.0\n[models]\nsiren = {}\n", "test.toml: train.lr: bad value -1.0"),
    ("seeds = 1\n[train]\nepochs = 3\n[models]\nsiren = {}\n", "test.toml: train.epochs: unknown key; valid keys: steps"),
    ("seeds = 1\n[train]\nprecision = 'fp16'\n[models]\nsiren = {}\n",
     "test.toml: train.precision: bad value 'fp16' (fp16 must be one of fp32, tf32, bf16"),
    ("seeds = 1\n[models]\nsiren = {}\n[[tasks]]\ntask = 'video'\nsignals = ['arch']\n",
     "test.toml: tasks[0].task: unknown task 'video'"),
    ("seeds = 1\n[models]\nsiren = {}\n[[tasks]]\ntask = 'audio'\nsignals = ['nope']\n",
     "test.toml: tasks[0].signals: unknown signal 'nope'"),
    ("seeds = 1\n[models]\nsiren = {}\n[[tasks]]\ntask = 'audio'\nsignals = ['camera']\n",
     "test.toml: tasks[0].signals: signal 'camera' is image, not audio"),
    ("seeds = 1\n[models]\nsiren = {}\n[[tasks]]\ntask = 'audio'\nsignals = ['arch']\nside = 3\n",
     "test.toml: tasks[0].side: unknown key for task audio; valid keys: task, signals, max_samples"),
    ("seeds = [1\n", "test.toml: not valid TOML"),
])
def test_spec_errors_name_the_key(library, text, message):
    if "tasks" not in text and "models" in text and "tasks: missing" not in message:
        text += "[[tasks]]\ntask = 'audio'\nsignals = ['arch']\n"
    with pytest.raises(UsageError) as err:
        parse_spec(text, "test.toml", library)
    assert message in str(err.value)


def test_shipped_presets_are_valid(library):
    from bench.experiment.presets import SPECS_DIR
    from bench.experiment.spec import load_spec

    names = {path.stem for path in SPECS_DIR.glob("*.toml")}
    assert {"quick", "siren2-paper-audio", "siren2-paper-image", "noise-scale", "width"} <= names
    for name in names:
        assert expand(load_spec(SPECS_DIR / f"{name}.toml", library))
    paper = load_spec(SPECS_DIR / "siren2-paper-audio.toml", library)
    train, = paper.trains
    assert (paper.widths, paper.layers, train.steps, train.lr_step, train.lr_gamma) == (
        (222,), (4,), 1000, 20, 0.99)
    assert len(paper.seeds) == 5 and len(paper.tasks[0].signals) == 11


RESUME_SPEC = """
name = "resume"
seeds = "0-1"
widths = 32
layers = 2
max_members = 2
[train]
steps = 150
[models]
siren = {}
siren2 = {}
[[tasks]]
task = "audio"
signals = ["arch", "relay", "gt_bach"]
max_samples = 4096
"""


def bench_cmd(*args):
    return [sys.executable, "-m", "bench", *args]


def test_a_sweep_killed_with_sigkill_resumes_and_stores_every_cell_once(tmp_path, library, need):
    need("arch", "relay", "gt_bach")
    spec_path = tmp_path / "resume.toml"
    spec_path.write_text(RESUME_SPEC)
    out = tmp_path / "out"
    args = bench_cmd("sweep", str(spec_path), "--out", str(out), "--device", "cpu", "--no-progress")
    first = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (out / RESULTS_FILE).is_file() and time.time() < deadline and first.poll() is None:
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait()
    rows_before = pd.read_parquet(out)
    assert 2 <= len(rows_before) < 12, "the kill should land between the first and the last ensemble"

    status = subprocess.run(bench_cmd("status", str(out)), capture_output=True, text=True)
    assert status.returncode == 0 and "12 cells" in status.stdout and "not run yet" in status.stdout

    second = subprocess.run(args, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    assert f"{12 - len(rows_before)} to run" in second.stderr
    after = pd.read_parquet(out)  # rows written before the kill are kept as they were, first (later ones may add columns)
    pd.testing.assert_frame_equal(after.iloc[:len(rows_before)][rows_before.columns], rows_before, check_dtype=False)
    results = read_results(out)
    expected = {cell.key for cell in expand(spec_of(RESUME_SPEC, library))}
    assert sorted(results["cell_key"]) == sorted(expected)  # every cell exactly once
    assert (results["status"] == "ok").all()

    third = subprocess.run(args, capture_output=True, text=True)
    assert third.returncode == 0 and "nothing to run" in third.stderr
    status = subprocess.run(bench_cmd("status", str(out)), capture_output=True, text=True)
    assert "12 cells: 12 done (12 ok, 0 diverged), 0 failed (0 error, 0 oom; the next sweep runs them again), " \
           "0 not run yet" in status.stdout


def test_diverged_and_failing_members_are_data_and_the_sweep_goes_on(tmp_path, capsys):
    plugin = tmp_path / "broken.py"
    plugin.write_text(textwrap.dedent('''
        from bench.models import register_model

        @register_model()
        def broken(m, fail: bool = True):
            """An init scheme with a bug."""
            raise ValueError("the scheme failed")
    '''))
    spec = tmp_path / "s.toml"
    spec.write_text(textwrap.dedent("""
        seeds = [0]
        widths = 16
        layers = 2
        [train]
        steps = 10
        [models]
        siren = {}
        siren2 = {S0 = [0.03, 1e30]}
        broken = {}
        [[tasks]]
        task = "audio"
        signals = ["arch", "relay"]
        max_samples = 512
    """))
    out = tmp_path / "out"
    code = main(["--plugin", str(plugin), "sweep", str(spec), "--out", str(out), "--device", "cpu",
                 "--no-progress", "--max-members", "3"])
    err = capsys.readouterr().err
    assert code == 1 and "2 cells failed (broken on arch: ValueError: the scheme failed)" in err
    results = read_results(out).set_index(["signal", "model_spec"])
    for signal_name in ("arch", "relay"):
        assert results.loc[(signal_name, "siren2:S0=1e+30"), "status"] == "diverged"
        assert results.loc[(signal_name, "siren2:S0=0.03"), "status"] == "ok"
        assert results.loc[(signal_name, "siren"), "status"] == "ok"
        assert results.loc[(signal_name, "broken"), "error"] == "ValueError: the scheme failed"
    code = main(["status", str(out)])
    assert code == 0 and "8 cells: 6 done (4 ok, 2 diverged), 2 failed (2 error, 0 oom; the next sweep runs them " \
                         "again), 0 not run yet" in capsys.readouterr().out

    plugin.write_text(plugin.read_text().replace('raise ValueError("the scheme failed")', 'return {}'))  # fixed
    code = main(["--plugin", str(plugin), "sweep", str(spec), "--out", str(out), "--device", "cpu", "--no-progress"])
    assert code == 0 and "2 to run" in capsys.readouterr().err  # only the failed cells run again
    results = read_results(out)
    assert len(results) == 8 and results.set_index(["signal", "model_spec"]).loc[("arch", "broken"), "status"] == "ok"


def test_a_value_listed_twice_is_one_cell(library):
    """Every axis alike: seeds, widths, layers, model parameters, signals, task options."""
    spec = spec_of("seeds = [0, 0]\nwidths = [8, 8]\nlayers = [2, 2]\n[models]\nsiren2 = {S0 = [0.1, 1e-1]}\n"
                   "[[tasks]]\ntask = 'audio'\nsignals = ['arch', 'arch']\nmax_samples = [64, 64]\n", library)
    assert len(expand(spec)) == cell_count(spec) == 1
    assert parse_seeds("0-2,1") == [0, 1, 2]
    assert spec_of("seeds = [9223372036854775807]\n[models]\nsiren = {}\n[[tasks]]\ntask = 'audio'\n"
                   "signals = ['arch']\n", library).seeds == (2**63 - 1,)  # the largest int64


def test_a_list_of_tables_gives_a_model_several_grids_with_the_keys_each_has_alone(library):
    grids = spec_of("seeds = 0\n[models]\nsiren2 = [{}, {S0 = [0.01, 0.1]}, {a = 10}, {S0 = 0.1}]\n"
                    "[[tasks]]\ntask = 'audio'\nsignals = ['arch']\n", library)
    assert [m.label for m in grids.models] == ["siren2", "siren2:S0=0.01", "siren2:S0=0.1", "siren2:a=10.0"]
    alone = spec_of("seeds = 0\n[models]\nsiren2 = {}\n[[tasks]]\ntask = 'audio'\nsignals = ['arch']\n", library)
    assert expand(alone)[0].key == expand(grids)[0].key  # adding a grid leaves the cells of the others alone
    with pytest.raises(UsageError, match="or a list of such tables"):
        spec_of("[models]\nsiren2 = [{}, 3]\n[[tasks]]\ntask = 'audio'\nsignals = ['arch']\n", library)
    with pytest.raises(UsageError, match="an empty list"):
        spec_of("[models]\nsiren2 = []\n[[tasks]]\ntask = 'audio'\nsignals = ['arch']\n", library)


def test_planning_a_huge_grid_is_cheap(library):
    """A million cells: counted at once, expanded and keyed in seconds (timing is left to benchmarks)."""
    s0 = ", ".join(str(i / 1000) for i in range(1, 101))
    spec = spec_of(f"seeds = '0-999'\nwidths = [8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]\n[models]\n"
                   f"siren2 = {{S0 = [{s0}]}}\n[[tasks]]\ntask = 'audio'\nsignals = ['arch']\n", library)
    assert cell_count(spec) == 1_000_000


def test_out_of_memory_splits_the_ensemble_then_records_oom(library):
    """A real allocation failure: the address space of a subprocess is capped with RLIMIT_AS."""
    script = textwrap.dedent("""
        import dataclasses, json, resource, sys, torch
        from bench.models import parse_model
        from bench.signals.library import SignalLibrary
        from bench.experiment.execute import run_job
        from bench.experiment.plan import Cell
        from bench.tasks import load_task
        from bench.training import TrainConfig

        width, budget_mib = int(sys.argv[1]), int(sys.argv[2])
        task = load_task("audio:relay", SignalLibrary(), {"max_samples": 8192})
        cells = [Cell("audio", "relay", (), width, 2, TrainConfig(steps=2), parse_model("siren"), s, "relay")
                 for s in range(8)]
        run_job(task, [dataclasses.replace(cells[0], width=4)], torch.device("cpu"), progress=False)
        # ^ a tiny run first, so torch's lazy imports happen before the cap, not half-way under it
        size = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmSize"))
        limit = size + budget_mib * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        rows = run_job(task, cells, torch.device("cpu"), progress=False)
        print(json.dumps([[r["status"], r.get("ensemble_size")] for r in rows]))
    """)
    outcomes = {}
    # 200 MiB: too little for 8 members of width 256, enough for fewer; 100 MiB: too little for one
    # member of width 1024 yet enough for the interpreter to record it
    for width, budget_mib in ((256, 200), (1024, 100)):
        result = subprocess.run([sys.executable, "-c", script, str(width), str(budget_mib)], capture_output=True,
                                text=True, env=os.environ | {"OMP_NUM_THREADS": "1"}, timeout=300)
        assert result.returncode == 0, result.stderr
        outcomes[width] = json.loads(result.stdout.strip().splitlines()[-1])
    assert all(status == "ok" for status, _ in outcomes[256])
    assert 1 <= max(size for _, size in outcomes[256]) < 8  # split, then trained
    assert outcomes[1024] == [["oom", None]] * 8


def test_dry_run_lists_the_ensembles_and_writes_nothing(tmp_path, capsys):
    spec = tmp_path / "resume.toml"
    spec.write_text(RESUME_SPEC)
    assert main(["sweep", str(spec), "--out", str(tmp_path / "out"), "--dry-run", "--max-members", "4"]) == 0
    captured = capsys.readouterr()
    assert "12 cells, 0 finished, 12 to run in 3 ensembles" in captured.err
    assert len(captured.out.strip().splitlines()) == 3 and "audio:arch" in captured.out
    assert not (tmp_path / "out").exists()


def test_minibatch_flags_reach_the_trainer(tmp_path, capsys):
    code = main(["run", "--model", "siren", "--task", "audio:arch", "--max-samples", "1024", "--batch-size", "256",
                 "--eval-every", "4", "--steps", "10", "--width", "16", "--layers", "2", "--seeds", "0",
                 "--device", "cpu", "--out", str(tmp_path), "--no-progress"])
    assert code == 0, capsys.readouterr().err
    row = pd.read_parquet(tmp_path).iloc[0]
    assert row["batch_size"] == 256 and row["samples_per_s"] == pytest.approx(row["steps_per_s"] * 256)
    assert list(row["curve_steps"]) == [0, 4, 8, 10]  # full-signal evaluations every 4 steps, and the end


def test_equal_settings_written_differently_are_one_cell_and_keys_never_mix_them(library):
    """lr = 1 and lr = 1.0 are one setting; S0 = 0.0 and -0.0 are not the same JSON, and the key cache
    must not hand one the other's key."""
    base = "seeds = 0\n[train]\nlr = {lr}\n[models]\nsiren2 = {{S0 = {s0}}}\n[[tasks]]\ntask = 'audio'\nsignals = ['arch']\n"
    one = expand(spec_of(base.format(lr="1", s0="0.0"), library))[0]
    other = expand(spec_of(base.format(lr="1.0", s0="0.0"), library))[0]
    assert one.key == other.key
    minus = expand(spec_of(base.format(lr="1.0", s0="-0.0"), library))[0]
    canonical = dataclasses.asdict(minus.train)
    del canonical["precision"]
    content = {"task": "audio", "signal": "arch", "options": {"max_samples": 136055},  # the samples used
               "width": minus.width, "layers": minus.layers,
               "train": canonical, "model": "siren2", "params": {"S0": -0.0}, "seed": 0,
               "content": minus.fingerprint, "revision": 2}
    assert minus.key == hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16] != one.key


def test_a_sweep_refuses_a_directory_with_results_its_spec_no_longer_has(tmp_path, capsys):
    spec = tmp_path / "s.toml"
    spec.write_text("seeds = 0\nwidths = 4\nlayers = 1\n[train]\nsteps = 2\n[models]\nsiren = {}\n"
                    "[[tasks]]\ntask = 'audio'\nsignals = ['arch']\nmax_samples = 64\n")
    out = tmp_path / "out"
    assert main(["sweep", str(spec), "--out", str(out), "--device", "cpu", "--no-progress"]) == 0
    rows = pd.read_parquet(out)
    old = "20250101T000000-aaaaaa"  # a file as an old bench wrote it, named by its run id
    pd.concat([rows, rows.assign(cell_key="0123456789abcdef")]).assign(run_id=old).to_parquet(out / f"{old}.parquet")
    capsys.readouterr()
    assert main(["sweep", str(spec), "--out", str(out), "--device", "cpu", "--no-progress"]) == 2
    assert "holds 1 results of cells this spec no longer has" in capsys.readouterr().err


def test_eta_comes_from_the_timed_cells_and_is_absent_without_any():
    from bench.experiment.progress import eta

    timed = pd.DataFrame({"seconds": [10.0, 10.0, np.nan], "ensemble_size": [2, 2, 1]})
    assert eta(timed, 4).endswith("at 5.0 s per cell so far")
    assert eta(timed.iloc[2:], 4) is None  # only a failed cell, which records no time
    assert eta(timed, 0) is None


CHECKPOINT_SPEC = """
name = "checkpointed"
seeds = [0, 1]
widths = 32
layers = 2
max_members = 2
[train]
steps = 4000
lr = 1e-3
lr_step = 50
lr_gamma = 0.9
[models]
winner = {}
[[tasks]]
task = "audio"
signals = ["relay"]
max_samples = 2048
"""


def test_a_member_killed_mid_run_resumes_from_its_checkpoint_with_the_uninterrupted_numbers(tmp_path, need):
    need("relay")
    spec = tmp_path / "c.toml"
    spec.write_text(CHECKPOINT_SPEC)

    def sweep(out, *flags):
        return bench_cmd("sweep", str(spec), "--out", str(tmp_path / out), "--device", "cpu", "--no-progress",
                         "--compile", "off", *flags)

    assert subprocess.run(sweep("whole", "--checkpoint-every", "0"), capture_output=True).returncode == 0
    first = subprocess.Popen(sweep("killed", "--checkpoint-every", "0.2"), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    checkpoints = tmp_path / "killed" / "_checkpoints"
    deadline = time.time() + 300
    while not list(checkpoints.glob("*.pt")) and time.time() < deadline and first.poll() is None:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)  # right after its first save
    first.wait()
    saved = list(checkpoints.glob("*.pt"))
    assert len(saved) == 1, f"the kill should land mid-run, after a save (exit {first.returncode}, {saved})"
    step = torch.load(saved[0], weights_only=False)["step"]
    assert 0 < step < 4000, "the kill should land mid-run"
    assert not (tmp_path / "killed" / RESULTS_FILE).exists()

    second = subprocess.run(sweep("killed", "--checkpoint-every", "0.2"), capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    assert not list(checkpoints.glob("*.pt"))  # removed once the rows are stored
    whole, resumed = (read_results(tmp_path / name).set_index("cell_key") for name in ("whole", "killed"))
    resumed = resumed.loc[whole.index]
    for column in ("snr_db", "best_snr_db", "best_step", "lsd", "si_snr_db"):
        assert whole[column].tolist() == resumed[column].tolist(), column
    assert whole["curve_snr_db"].map(list).tolist() == resumed["curve_snr_db"].map(list).tolist()


def test_a_checkpoint_serves_only_the_same_members_in_the_same_places(tmp_path):
    """Reordering a spec's models keeps the set of cells but not which member of the saved weights is whom."""
    from bench.experiment.execute import JobRunner

    runner = JobRunner({}, checkpoint_dir=tmp_path)
    assert runner.checkpoint(["a", "b"]).path != runner.checkpoint(["b", "a"]).path
    assert runner.checkpoint(["a", "b"]).path == runner.checkpoint(["a", "b"]).path
    # another scheme's or task's code (a file edited since the save) does not resume from it
    assert runner.checkpoint(["a"], ["m1/t1"]).path != runner.checkpoint(["a"], ["m2/t1"]).path


def test_checkpoints_no_ensemble_will_resume_from_are_removed(tmp_path, need):
    """An ensemble of another make-up (another ensemble size) stored the cells a checkpoint trains."""
    from bench.cli import main
    from bench.experiment.execute import JobRunner

    need("relay")
    runs = tmp_path / "runs"

    def run(seeds):
        return main(["run", "--task", "audio:relay", "--max-samples", "256", "--model", "siren", "--seeds", seeds,
                     "--steps", "2", "--width", "8", "--layers", "2", "--device", "cpu", "--no-progress",
                     "--out", str(runs)])

    assert run("0") == 0
    runner = JobRunner({}, checkpoint_dir=runs / "_checkpoints")
    stale, unknown = runner.checkpoint(list(read_results(runs)["cell_key"])), runner.checkpoint(["not stored"])
    for checkpoint in (stale, unknown):
        checkpoint.save({"step": 1})
    assert run("0-1") == 0
    assert not stale.path.exists() and unknown.path.exists()  # its cells are not stored: it may still serve
    assert run("0-1") == 0  # nothing left to train: no checkpoint will serve
    assert not list((runs / "_checkpoints").glob("*.pt"))


def test_relative_signal_paths_are_read_in_the_spec_files_folder_from_any_working_directory(
        tmp_path, capsys, library, monkeypatch):
    import soundfile as sf

    specs, elsewhere = tmp_path / "specs", tmp_path / "elsewhere"
    (specs / "clips").mkdir(parents=True)
    elsewhere.mkdir()
    samples, rate = sf.read(library.path("arch", "audio"), frames=512)
    sf.write(specs / "clips" / "arch.wav", samples, rate)
    (specs / "s.toml").write_text("seeds = [0]\nwidths = 8\nlayers = 1\n[train]\nsteps = 3\n[models]\nsiren = {}\n"
                                  "[[tasks]]\ntask = 'audio'\nsignals = ['clips/arch.wav']\n")
    monkeypatch.chdir(elsewhere)  # not the spec's folder: clips/arch.wav is not here
    assert main(["sweep", "../specs/s.toml", "--out", "out", "--device", "cpu", "--no-progress"]) == 0
    assert read_results(elsewhere / "out")["signal"].tolist() == [str(specs / "clips" / "arch.wav")]
    stored = (elsewhere / "out" / "_spec.toml").read_text()
    assert stored.startswith(f"signal_dir = {json.dumps(str(specs))}")  # the copy names the folder
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["status", "elsewhere/out"]) == 0 and "1 cells: 1 done" in capsys.readouterr().out
    assert main(["report", "elsewhere/out", "--out", "report"]) == 0
    assert main(["sweep", "specs/s.toml", "--out", "elsewhere/out", "--device", "cpu", "--no-progress"]) == 0
    assert "nothing to run: all 1 cells are already in" in capsys.readouterr().err


def test_signal_dir_names_the_folder_of_relative_signal_paths(tmp_path, library):
    import soundfile as sf

    samples, rate = sf.read(library.path("arch", "audio"), frames=512)
    sf.write(tmp_path / "arch.wav", samples, rate)
    text = "seeds = [0]\n[models]\nsiren = {}\n[[tasks]]\ntask = 'audio'\nsignals = ['arch.wav']\n"
    spec = parse_spec(f"signal_dir = {json.dumps(str(tmp_path))}\n{text}", "s.toml", library)
    assert spec.tasks[0].signals == (str(tmp_path / "arch.wav"),)
    with pytest.raises(UsageError, match="s.toml: signal_dir: expected the absolute path of a folder, got 'in'"):
        parse_spec(f"signal_dir = 'in'\n{text}", "s.toml", library)
