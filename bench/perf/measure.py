"""Throughput of one ensemble configuration: steps/s, samples/s, achieved FLOP/s (counted from the layer
shapes) and peak memory, with the final metric beside them so that speed and quality are read together."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from bench.perf.roofline import DeviceRates, step_floor_s
from bench.training import Problem, train

CLEAR_REFS = Path("/proc/self/clear_refs")  # writing "5" resets the process's peak resident set (Linux)
STATUS = Path("/proc/self/status")


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    elif CLEAR_REFS.exists():
        CLEAR_REFS.write_text("5")


def peak_memory_mb(device: torch.device) -> float:
    """CUDA: peak bytes allocated by tensors since the reset; CPU: peak resident memory of the whole
    process (Linux's VmHWM, interpreter and libraries included); NaN where unknown."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    if STATUS.exists():
        for line in STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


@dataclass(frozen=True)
class SpeedConfig:
    """A problem to time: a task with its options and an L x H network."""

    task: str
    options: dict
    width: int
    layers: int


# GPU-sized problems (the SIREN² paper's audio and image settings, docs/methods.md) and CPU-sized ones.
SPEED_CONFIGS = {
    "audio": SpeedConfig("audio:arch", {"max_samples": 150_000}, 222, 4),
    "image": SpeedConfig("image:camera", {"side": 256}, 256, 3),
    "audio-cpu": SpeedConfig("audio:arch", {"max_samples": 16_384}, 64, 4),
    "audio-cpu-4k": SpeedConfig("audio:arch", {"max_samples": 4_096}, 64, 4),
    "image-cpu": SpeedConfig("image:camera", {"side": 64}, 64, 3),
}


@dataclass(frozen=True)
class Throughput:
    """members: ensemble size; steps_per_s: optimizer steps per second (every member advances at this
    rate); member_steps_per_s = members x steps_per_s; samples_per_s: member-samples per second."""

    members: int
    compiled: bool  # the step ran compiled to the end (see TrainOutcome.compiled)
    steps_per_s: float
    member_steps_per_s: float
    samples_per_s: float
    gflop_per_s: float
    peak_mem_mb: float
    metric: float  # mean final metric over the members (NaN if all diverged)
    step_ms: float  # wall time of one step of the whole ensemble
    floor_ms: float  # its roofline floor (NaN unless measured; see bench.perf.roofline)


def measure(problem: Problem, members: int, compile: bool = False, rates: DeviceRates | None = None) -> Throughput:
    """Train ``members`` members (seeds 0..members-1) of ``problem`` (its task already on its device) for its
    steps and report the rate after warm-up; with the device's ``rates``, the roofline floor too."""
    task, cfg = problem.task, problem.train
    device = task.coords.device
    ensemble = problem.ensemble(members)
    reset_peak_memory(device)
    outcome = train(ensemble, task, cfg, progress=False, compile=compile)
    samples = min(cfg.batch_size or task.size, task.size)
    finals = torch.tensor([m.final for m in outcome.members])
    return Throughput(
        members=members, compiled=outcome.compiled, steps_per_s=outcome.steps_per_s, member_steps_per_s=members * outcome.steps_per_s,
        samples_per_s=members * outcome.steps_per_s * samples,
        gflop_per_s=outcome.steps_per_s * ensemble.train_flops(samples) / 1e9,
        peak_mem_mb=peak_memory_mb(device), metric=float(finals.nanmean()), step_ms=1e3 / outcome.steps_per_s,
        floor_ms=1e3 * step_floor_s(ensemble, samples, rates) if rates else float("nan"))
