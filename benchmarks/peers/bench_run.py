"""Peer "bench": this package, two ways.

Timed as a user runs it: the ``bench run`` command (``command``), whose rows give the steady rate
(``steady``). Its members start from bench's own SIREN init, not the reference's: that changes what they
learn, not how fast a step runs.

Checked in process (``train``): the ensemble ``bench run`` builds, with the reference's starting weights copied
into it, trained by ``bench.training.train``. That loop keeps each member's metric (SNR) per step, computed
from the step's own loss, so the losses come back from it: MSE = signal power / 10^(SNR / 10).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from benchmarks.peers.problem import LR, SIGNAL, Shape, initial_params, signal

TASK = f"audio:{SIGNAL}"


def command(python: str, shape: Shape, threads: int, out: Path, compile: bool = False) -> list[str]:
    """``bench run`` of the shape's members as seeds 0..K-1, into the results directory ``out``."""
    return [python, "-m", "bench", "run", "--model", "siren", "--task", TASK, "--max-samples", str(shape.samples),
            "--width", str(shape.width), "--layers", str(shape.layers), "--steps", str(shape.steps),
            "--seeds", f"0-{shape.members - 1}", "--device", "cpu", "--no-progress", "--threads", str(threads),
            "--compile", "on" if compile else "off", "--out", str(out)]


def steady(out: Path) -> tuple[float, float, list[int]]:
    """From a ``bench run``'s rows: its member-steps per second, the seconds its training loops took beyond
    their steps at their steady rates (warm-up steps, compiling, final evaluations), and its ensemble sizes.
    Each ensemble's rows share its ``steps_per_s`` (after its own warm-up steps) and ``seconds``; ensembles
    run one after another, so the job's rate is its member-steps over the sum of the ensembles' step times:
    sum(k) / sum(1 / steps_per_s)."""
    from bench.experiment.store import read_results

    rows = read_results(out)
    ensembles = rows.drop_duplicates(["ensemble_size", "steps_per_s", "seconds"])
    step_s = 1.0 / ensembles["steps_per_s"]
    return (float(ensembles["ensemble_size"].sum() / step_s.sum()),
            float((ensembles["seconds"] - ensembles["steps"] * step_s).sum()),
            ensembles["ensemble_size"].astype(int).tolist())


def train(shape: Shape, dtype: torch.dtype = torch.float32) -> tuple[np.ndarray, list[int]]:
    """Losses [S', K] at the steps bench's loop keeps (every step for S <= 100) and those steps, members
    0..K-1 starting from the reference's weights, trained as one ensemble in ``dtype``."""
    from bench.models import Architecture, MemberSpec, build_ensemble, parse_model
    from bench.signals.library import SignalLibrary
    from bench.tasks import load_task
    from bench.training import TrainConfig, train as train_ensemble

    task = load_task(TASK, SignalLibrary(), {"max_samples": shape.samples})
    # the peers' float64 signal instead of the task's float32 one; the target is also the reference: one tensor
    coords, target = (torch.from_numpy(a).to(dtype) for a in signal(shape.samples))
    task = dataclasses.replace(task, coords=coords, target=target, reference=target)
    specs = [MemberSpec(parse_model("siren"), seed) for seed in range(shape.members)]
    model = build_ensemble(specs, Architecture.of(task.info, shape.width, shape.layers), task.info)[0].to(dtype)
    with torch.no_grad():
        for seed in range(shape.members):
            for i, (weights, bias) in enumerate(initial_params(shape, seed)):
                model.weights[i][seed] = torch.from_numpy(weights)
                model.biases[i][seed, 0] = torch.from_numpy(bias)
    outcome = train_ensemble(model, task, TrainConfig(steps=shape.steps, lr=LR), progress=False)
    steps = outcome.members[0].curve_steps
    snr = np.array([member.curve for member in outcome.members]).T  # [S', K]
    # the last point is the final evaluation, which reports its MSE in float32: only the steps' points are exact
    kept = [i for i, step in enumerate(steps) if step < shape.steps]
    return task.meta["signal_power"] / 10.0 ** (snr[kept] / 10.0), [steps[i] for i in kept]
