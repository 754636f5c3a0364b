"""Member-steps per second: the plain reference loop against batched ensembles of K members, and the
harness's own choice (16 members split into the ensemble size measured fastest on this device)."""

from __future__ import annotations

import pytest
import torch

from bench.models import parse_model
from bench.perf.sizing import Sizer
from bench.perf.measure import SPEED_CONFIGS
from bench.training import Problem, TrainConfig, train
from benchmarks.conftest import CONFIGS, DEVICE, STEPS
from benchmarks.reference import fit, siren

REFERENCE_SEEDS = 2  # the reference runs seeds one after another, so its rate does not depend on K
CFG = TrainConfig(steps=STEPS)


def _problem(task, config) -> Problem:
    """SIREN on ``task`` (already on DEVICE) with the network of ``config``."""
    return Problem(task, parse_model("siren"), config.width, config.layers, CFG)


@pytest.mark.parametrize("name", CONFIGS)
def test_reference_loop(benchmark, tasks, record, name):
    task, config = tasks(name), SPEED_CONFIGS[name]
    w0_first = 3000.0 if task.info.domain == "audio" else 30.0

    def run():
        for seed in range(REFERENCE_SEEDS):
            torch.manual_seed(seed)
            net = siren(task.info.d_in, config.width, config.layers, task.info.d_out, w0_first=w0_first).to(DEVICE)
            fit(net, task.coords, task.target, STEPS)
        if DEVICE.type == "cuda":
            torch.cuda.synchronize()

    benchmark.pedantic(run, rounds=3, warmup_rounds=1)
    record(name, "reference", benchmark, REFERENCE_SEEDS * STEPS)


@pytest.mark.parametrize("compile", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("members", [1, 4, 8, 16])
@pytest.mark.parametrize("name", CONFIGS)
def test_batched_ensemble(benchmark, tasks, record, name, members, compile):
    """The warm-up round compiles (the later ones reuse it: same shapes, new members)."""
    task, config = tasks(name), SPEED_CONFIGS[name]
    benchmark.pedantic(lambda model: train(model, task, CFG, progress=False, compile=compile),
                       setup=lambda: ((_problem(task, config).ensemble(members),), {}), rounds=3, warmup_rounds=1)
    record(name, f"ensemble K={members}" + (" compiled" if compile else ""), benchmark, members * STEPS)


@pytest.mark.parametrize("name", CONFIGS)
def test_harness_16_members(benchmark, tasks, record, name):
    """What a 16-member sweep does: ensembles of the size measured fastest here (measured before timing)."""
    task, config = tasks(name), SPEED_CONFIGS[name]
    problem = _problem(task, config)
    size = Sizer().members(problem, cap=16)
    chunks = [min(size, 16 - start) for start in range(0, 16, size)]

    def run():
        for members in chunks:
            train(problem.ensemble(members), task, CFG, progress=False)

    benchmark.pedantic(run, rounds=3, warmup_rounds=1)
    benchmark.extra_info["ensemble_size"] = size
    record(name, f"harness x16 (K={size})", benchmark, 16 * STEPS)
