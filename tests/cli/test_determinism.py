"""A result depends on its cell alone, end to end: a sweep gives the same numbers under load, with empty caches
and after a kill; a stored result is not reused once the code of its scheme changes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from bench.cli import main
from bench.core.columns import CURVE, METRIC, columns_of
from bench.experiment.store import read_results


REPO = Path(__file__).resolve().parents[2]
SPEC = """name = "determinism"
seeds = [0, 1, 2]
widths = 16
layers = 2
[train]
steps = 150
lr = 3e-4
[models]
siren = {}
winner = {}
[[tasks]]
task = "audio"
signals = ["relay"]
max_samples = 1024
[[tasks]]
task = "image"
signals = ["camera"]
side = 16
"""


def _busy_loop() -> subprocess.Popen:
    """A process that keeps one core busy until killed (the load of another user's job)."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def _sweep(spec: Path, out: Path, env: dict[str, str], *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench", "sweep", str(spec), "--out", str(out), "--no-progress",
                           "--device", "cpu", *flags], env=env, cwd=REPO, capture_output=True, text=True)


def _metrics(out: Path) -> pd.DataFrame:
    """Every metric and curve column (``bench.core.columns``) by cell, with the step each best was at."""
    rows = read_results(out).sort_values("cell_key").reset_index(drop=True)
    columns = columns_of(rows.columns, METRIC, CURVE)
    assert {"snr_db", "psnr_db", "curve_snr_db", "ssim", "lsd"} <= set(columns)
    return rows[["cell_key", "best_step", *columns]]


@pytest.mark.slow
def test_a_sweep_gives_the_same_numbers_under_load_with_empty_caches_and_after_a_kill(tmp_path, need):
    """The same spec three times: on a quiet machine; with every cache empty and one core kept busy (the
    ensemble sizes are then measured under load); and in ensembles of 2, killed while an ensemble is half
    trained, then resumed from its checkpoint. Every metric and curve column is bit-identical."""
    need("relay", "camera")
    spec = tmp_path / "determinism.toml"
    spec.write_text(SPEC)
    env = os.environ | {"BENCH_MEMBERS_CACHE": str(tmp_path / "sizes-a.json")}
    assert _sweep(spec, tmp_path / "quiet", env).returncode == 0
    busy = _busy_loop()
    try:
        env_b = os.environ | {"BENCH_MEMBERS_CACHE": str(tmp_path / "sizes-b.json")}
        done = _sweep(spec, tmp_path / "busy", env_b)
        assert done.returncode == 0, done.stderr
    finally:
        busy.kill()
        busy.wait()
    killed, pairs = tmp_path / "killed", ["--max-members", "2", "--checkpoint-every", "0.01"]
    process = subprocess.Popen([sys.executable, "-m", "bench", "sweep", str(spec), "--out", str(killed), "--no-progress",
                                "--device", "cpu", *pairs], env=env, cwd=REPO, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None and not (
            (killed / "results.parquet").is_file() and any((killed / "_checkpoints").glob("*.pt"))):
        time.sleep(0.01)
    process.kill()
    process.wait()
    assert any((killed / "_checkpoints").glob("*.pt")) and len(read_results(killed)) < 12  # killed mid-way
    assert _sweep(spec, killed, env, *pairs).returncode == 0  # resumed from the checkpoint
    quiet = _metrics(tmp_path / "quiet")
    pd.testing.assert_frame_equal(quiet, _metrics(tmp_path / "busy"))
    pd.testing.assert_frame_equal(quiet, _metrics(killed))


PLUGIN = '''"""SIREN with jitter on the hidden weights."""
from bench.models import Member, register_model
from bench.models.siren import siren


@register_model()
def siren_jitter(m: Member, w0: float = 30.0) -> dict:
    """{doc}"""
    used = siren(m, w0=w0)
    m.weights[1] += m.uniform(m.weights[1].shape, {jitter} / w0)  # the constant a user edits
    return used
'''


def _run_plugin(plugin: Path, out: Path, *flags: str) -> int:
    return main(["--plugin", str(plugin), "run", "--model", "siren_jitter", "--task", "audio:relay", "--max-samples",
                 "512", "--width", "8", "--layers", "1", "--steps", "5", "--seeds", "0", "--device", "cpu",
                 "--no-progress", "--out", str(out), *flags])


def test_an_edited_scheme_is_refused_or_retrained_and_an_edited_docstring_changes_nothing(tmp_path, capsys, need):
    need("relay")
    plugin, out = tmp_path / "siren_jitter.py", tmp_path / "out"
    plugin.write_text(PLUGIN.format(doc="First words.", jitter=0.5))
    assert _run_plugin(plugin, out) == 0
    first = read_results(out).iloc[0]
    plugin.write_text(PLUGIN.format(doc="Other words, same code.", jitter=0.5).replace("# the constant", "# a constant"))
    assert _run_plugin(plugin, out) == 0
    assert "nothing to run" in capsys.readouterr().err
    plugin.write_text(PLUGIN.format(doc="First words.", jitter=0.7))
    assert _run_plugin(plugin, out) == 2
    assert "siren_jitter" in capsys.readouterr().err  # the one line names the scheme
    assert read_results(out).iloc[0]["snr_db"] == first["snr_db"]  # refused: nothing lost or changed
    assert main(["--plugin", str(plugin), "status", str(out)]) == 0  # plain runs: rows counted
    assert _run_plugin(plugin, out, "--retrain-changed") == 0
    again = read_results(out)
    assert len(again) == 1 and again.iloc[0]["model_code"] != first["model_code"]
    assert again.iloc[0]["snr_db"] != first["snr_db"]


def test_a_sweep_counts_cells_of_changed_code_as_stale(tmp_path, capsys, need):
    need("relay")
    plugin, out = tmp_path / "siren_jitter.py", tmp_path / "sweep"
    plugin.write_text(PLUGIN.format(doc="Doc.", jitter=0.5))
    spec = tmp_path / "s.toml"
    spec.write_text('name = "s"\nseeds = [0, 1]\nwidths = 8\nlayers = 1\n[train]\nsteps = 5\n[models]\nsiren = {}\n'
                    'siren_jitter = {}\n[[tasks]]\ntask = "audio"\nsignals = ["relay"]\nmax_samples = 512\n')
    sweep = ["--plugin", str(plugin), "sweep", str(spec), "--out", str(out), "--device", "cpu", "--no-progress"]
    assert main(sweep) == 0
    plugin.write_text(PLUGIN.format(doc="Doc.", jitter=0.25))
    capsys.readouterr()
    assert main(["--plugin", str(plugin), "status", str(out)]) == 0
    said = capsys.readouterr().out
    assert "2 done (2 ok" in said and "2 stale (made by other code of siren_jitter" in said
    assert main(sweep) == 2
    assert main(sweep + ["--retrain-changed"]) == 0
    capsys.readouterr()
    assert main(["--plugin", str(plugin), "status", str(out)]) == 0
    assert "4 done" in capsys.readouterr().out


@pytest.mark.slow
def test_a_training_setting_added_in_its_one_declaration_splits_tables_and_keeps_old_keys(tmp_path, need):
    """A scratch copy of the package gains one field in bench.training.config (weight decay, not wired into
    training: the numbers of both values are the same, which is the hardest case for a table not to pool).
    Its flag exists, rows carry it, tables split on it, and cells at its default keep the keys they had."""
    need("relay")
    scratch = tmp_path / "pkg"
    for folder in ("bench", "specs"):  # the manifest and the specs are package data
        shutil.copytree(REPO / folder, scratch / folder, ignore=shutil.ignore_patterns("__pycache__"))
    config = scratch / "bench" / "training" / "config.py"
    text = config.read_text()
    text = text.replace("from bench.core.registry import ", "from bench.core.registry import NonNegativeFloat, ", 1)
    declaration = '    weight_decay: NonNegativeFloat = field(default=0.0, metadata=setting("Adam weight decay"))\n\n'
    config.write_text(text.replace("    def __post_init__(self):", declaration + "    def __post_init__(self):", 1))
    env = os.environ | {"PYTHONPATH": str(scratch)}
    run = ["run", "--model", "siren", "--task", "audio:relay", "--max-samples", "512", "--width", "8", "--layers", "1",
           "--steps", "5", "--seeds", "0,1", "--device", "cpu", "--no-progress"]
    done = subprocess.run([sys.executable, "-m", "bench", *run, "--weight-decay", "0,0.5", "--out", str(tmp_path / "wd")],
                          env=env, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    table = subprocess.run([sys.executable, "-m", "bench", "table", str(tmp_path / "wd"), "--metric", "snr_db"],
                           env=env, cwd=tmp_path, capture_output=True, text=True)
    assert table.returncode == 0, table.stderr
    assert "relay weight_decay=0.0" in table.stdout and "relay weight_decay=0.5" in table.stdout
    assert "seeds per cell: 2" in table.stderr
    assert main([*run, "--out", str(tmp_path / "plain")]) == 0  # the package as it is, without the setting
    scratch_rows = read_results(tmp_path / "wd")
    at_default = scratch_rows[scratch_rows["weight_decay"] == 0.0]
    assert sorted(at_default["cell_key"]) == sorted(read_results(tmp_path / "plain")["cell_key"])
    assert set(scratch_rows["cell_key"]) > set(at_default["cell_key"])  # wd = 0.5: cells of their own


@pytest.mark.slow
def test_a_lone_member_of_a_derivative_task_has_the_numbers_it_has_in_an_ensemble(tmp_path, capsys):
    """SIREN's sdf loss differentiates the output by the coordinates: a lone member's double backward would
    run other kernels than an ensemble's (a 3e-8 difference after 8 steps at this shape), so it trains as one
    of two copies."""
    threads = torch.get_num_threads()
    run = ["run", "--model", "siren", "--task", "sdf:synthetic:torus", "--surface-points", "4000", "--width", "64",
           "--layers", "3", "--steps", "8", "--device", "cpu", "--no-progress", "--threads", "1"]
    try:
        assert main([*run, "--seeds", "0", "--out", str(tmp_path / "alone")]) == 0
        assert main([*run, "--seeds", "0,1", "--max-members", "2", "--out", str(tmp_path / "pair")]) == 0
    finally:
        torch.set_num_threads(threads)
    alone = read_results(tmp_path / "alone").iloc[0]
    pair = read_results(tmp_path / "pair").set_index("seed").loc[0]
    assert alone["ensemble_size"] == 1 and list(alone["curve_sdf_rmse"]) == list(pair["curve_sdf_rmse"])
