"""bench sweep end to end: resume after SIGKILL, failures as data, dry runs, checkpoints, relative signal paths,
and specs refused in one line."""

import json
import signal
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest
import torch

from bench.cli import main
from bench.experiment.plan import expand
from bench.experiment.spec import parse_spec
from bench.experiment.store import RESULTS_FILE, read_results


TASK = "[[tasks]]\ntask = 'audio'\nsignals = ['arch']\n"


def test_a_spec_with_problems_is_one_line_from_the_cli(tmp_path, capsys):
    spec = tmp_path / "two.toml"
    spec.write_text("seeds = 1\nwidths = 0\n[models]\nsiren = {w00 = 3}\n" + TASK)
    assert main(["sweep", str(spec), "--out", str(tmp_path / "out"), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err == (f"bench: error: {spec}: 2 problems: (1) widths: expected an integer >= 1 or a list of them, "
                   f"got 0; (2) models.siren.w00: unknown parameter (did you mean 'w0'?); valid keys: w0: float > 0 "
                   f"= 30.0, w0_first: float > 0 = auto (and fr, fr_alpha, fr_phases, fr_freqs)\n")
    assert not (tmp_path / "out").exists()


def test_grids_too_large_to_plan_are_refused_before_planning(tmp_path, capsys):
    from bench.cli import main

    spec = tmp_path / "huge.toml"
    base = "widths = [8, 16]\nlayers = 1\n[models]\nsiren = {{}}\n[[tasks]]\ntask = 'audio'\nsignals = ['arch']\n"
    spec.write_text('seeds = "0-100000000"\n' + base.format())
    assert main(["sweep", str(spec), "--dry-run"]) == 2
    assert "name 100,000,001 seeds, more than 100,000" in capsys.readouterr().err
    spec.write_text('seeds = "0-999"\n' + base.format())
    assert main(["sweep", str(spec), "--dry-run", "--max-cells", "1000"]) == 2
    assert "2,000 cells, more than --max-cells 1,000" in capsys.readouterr().err
    assert main(["sweep", str(spec), "--dry-run", "--max-cells", "2000"]) == 0


def spec_of(text, library):
    return parse_spec(textwrap.dedent(text), "test.toml", library)


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


@pytest.mark.slow
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


@pytest.mark.slow
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


def test_dry_run_lists_the_ensembles_and_writes_nothing(tmp_path, capsys):
    spec = tmp_path / "resume.toml"
    spec.write_text(RESUME_SPEC)
    assert main(["sweep", str(spec), "--out", str(tmp_path / "out"), "--dry-run", "--max-members", "4"]) == 0
    captured = capsys.readouterr()
    assert "12 cells, 0 finished, 12 to run in 3 ensembles" in captured.err
    assert len(captured.out.strip().splitlines()) == 3 and "audio:arch" in captured.out
    assert not (tmp_path / "out").exists()


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


@pytest.mark.slow
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
