"""benchmarks/peers: every peer trains the reference loop's problem (its loss curve, step by step, from the
same weights), and ``python -m benchmarks.peers`` runs end to end. Speed is measured there, never asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks.peers import bench_run, jax_vmap, plain, run, torch_func
from benchmarks.peers.problem import Shape

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = Shape(members=2, steps=20, samples=256, width=16, layers=2)
ROOT = Path(__file__).resolve().parents[2]
JAX_REASON = "the jax peer needs JAX and optax: pip install -e .[peers] (CI installs them)"


@pytest.fixture(scope="module")
def reference(need):
    need("relay")
    return {dtype: plain.train(TINY, dtype) for dtype in (torch.float64, torch.float32)}


def _worst(losses: np.ndarray, reference: np.ndarray) -> float:
    return float(np.max(np.abs(losses - reference) / np.abs(reference)))


def test_the_reference_learns_so_that_equal_curves_mean_something(reference):
    losses = reference[torch.float64].losses
    assert losses.shape == (TINY.steps, TINY.members)
    assert (reference[torch.float64].final < 0.8 * losses[0]).all()


@pytest.mark.parametrize("compiled", [False, pytest.param(True, marks=pytest.mark.slow)], ids=["eager", "compiled"])
def test_torch_func_follows_the_reference(reference, compiled):
    ours = torch_func.train(TINY, torch.float64, compiled=compiled)
    assert _worst(ours.losses, reference[torch.float64].losses) < run.F64_RTOL
    assert _worst(ours.final, reference[torch.float64].final) < run.F64_RTOL
    early = torch_func.train(TINY, torch.float32, compiled=compiled).losses[:run.F32_STEPS]
    assert _worst(early, reference[torch.float32].losses[:run.F32_STEPS]) < run.F32_RTOL


def test_jax_follows_the_reference(reference):
    pytest.importorskip("optax", reason=JAX_REASON)
    ours = jax_vmap.train(TINY, x64=True)
    assert _worst(ours.losses, reference[torch.float64].losses) < run.F64_RTOL
    assert _worst(ours.final, reference[torch.float64].final) < run.F64_RTOL
    early = jax_vmap.train(TINY).losses[:run.F32_STEPS]
    assert _worst(early, reference[torch.float32].losses[:run.F32_STEPS]) < run.F32_RTOL


def test_x64_stays_inside_the_jax_peer(reference):
    jax = pytest.importorskip("jax", reason=JAX_REASON)
    jax_vmap.train(TINY, x64=True)
    assert jax.numpy.ones(1).dtype == jax.numpy.float32


def test_bench_training_loop_follows_the_reference(reference):
    losses, steps = bench_run.train(TINY, torch.float64)
    assert steps == list(range(TINY.steps))
    assert _worst(losses, reference[torch.float64].losses) < run.F64_RTOL


def test_the_check_tells_another_learning_rate_apart(reference):
    ours = torch_func.train(TINY, torch.float64, lr=1.1e-4)
    assert _worst(ours.losses, reference[torch.float64].losses) > run.F32_RTOL


@pytest.mark.slow
def test_one_command_prints_the_rows_asked_for_each_with_its_check(need):
    need("relay")
    done = subprocess.run([sys.executable, "-m", "benchmarks.peers", "--members=2", "--steps=20", "--samples=256",
                           "--width=16", "--layers=2", "--check", "--check-steps=20",
                           "--peers=torch.func,jax,bench run"],  # the compiled rows cost a minute each, tested apart
                          cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr
    lines = {line.split(" | ")[0].removeprefix("| "): line for line in done.stdout.splitlines()
             if line.startswith("| ") and not line.startswith("| peer")}
    assert set(lines) == {"reference", "torch.func", "jax", "bench run"}
    assert all("FAILED" not in line and "failed" not in line for line in lines.values())
    for peer in ("torch.func", "jax", "bench run"):
        assert "float64, 20 steps:" in lines[peer] and lines[peer].rstrip(" |").endswith("ok"), lines[peer]
