"""What a training loop keeps besides the weights: each member's state (alive, diverged, best metric,
curve) and the step timer."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor

from bench.core.metrics import Metric
from bench.core.status import DIVERGED, OK



@dataclass(frozen=True)
class MemberOutcome:
    """One member after training: metric at the end, best metric seen and after how many steps."""

    status: str  # OK or DIVERGED
    final: float
    best: float
    best_step: int
    diverged_step: int | None
    extra: dict[str, float]  # the task's other final metrics (SSIM, LSD, a Poisson task's gradient error; NaN if diverged)
    best_extra: dict[str, float]  # the same metrics of the weights at ``best_step`` (NaN where no step was scored)
    curve_steps: list[int]  # training curve: the metric after these many steps (NaN once diverged)
    curve: list[float]
    held_out_curve: list[float] | None = None  # a held-out task's held-out metric at the same steps


class MemberTracker:
    """Per-member state of K members trained together, on their device (no synchronisation per step):
    alive [K] (no non-finite loss yet), the step each diverged at, the best metric, its step and a copy of
    the ``weights`` [K, ...] at that step, and the metric every ``curve_every`` steps and at ``last_step``.
    ``metric`` says which way the tracked metric is better."""

    def __init__(self, members: int, device: torch.device, curve_every: int, last_step: int,
                 weights: list[Tensor], metric: Metric):
        self.curve_every, self.last_step, self.metric = curve_every, last_step, metric
        self.weights = weights
        self.best_weights = [w.detach().clone() for w in weights]
        self.alive = torch.ones(members, dtype=torch.bool, device=device)
        self.diverged_step = torch.full((members,), -1, dtype=torch.long, device=device)
        self.best = torch.full((members,), -torch.inf if metric.higher_is_better else torch.inf, device=device)
        self.best_step = torch.zeros(members, dtype=torch.long, device=device)
        self.curve: list[tuple[int, Tensor]] = []  # (step, metric [K])
        self.held_out_curve: list[Tensor] = []  # held-out metric [K] at the curve's steps (held-out tasks)

    def state_dict(self) -> dict:
        """Everything tracked so far, on the CPU (for a checkpoint)."""
        return {"alive": self.alive.cpu(), "diverged_step": self.diverged_step.cpu(), "best": self.best.cpu(),
                "best_step": self.best_step.cpu(), "best_weights": [w.cpu() for w in self.best_weights],
                "curve": [(step, values.cpu()) for step, values in self.curve],
                "held_out_curve": [values.cpu() for values in self.held_out_curve]}

    def load_state_dict(self, state: dict) -> None:
        """Continue from ``state_dict``'s values (moved to this tracker's device)."""
        device = self.alive.device
        for name in ("alive", "diverged_step", "best", "best_step"):
            getattr(self, name).copy_(state[name].to(device))
        for best, saved in zip(self.best_weights, state["best_weights"]):
            best.copy_(saved.to(device))
        self.curve = [(step, values.to(device)) for step, values in state["curve"]]
        self.held_out_curve = [values.to(device) for values in state["held_out_curve"]]

    def check(self, values: Tensor, step: int) -> None:
        """Members whose ``values`` [K] (losses, or the final metric) are not finite diverge at ``step``."""
        finite = torch.isfinite(values)
        self.diverged_step.copy_(torch.where(self.alive & ~finite, step, self.diverged_step))
        self.alive &= finite

    def check_metric(self, metric: Tensor, step: int) -> None:
        """Members whose final ``metric`` [K] shows non-finite weights diverge at ``step``: NaN, or the worst
        infinity (an SNR of -inf: an infinite error). The best infinity is a perfect fit (zero error), a result."""
        worst = -torch.inf if self.metric.higher_is_better else torch.inf
        self.check(torch.where(metric.isnan() | (metric == worst), torch.nan, 0.0), step)

    def record(self, metric: Tensor, step: int) -> None:
        """The metric [K] of the weights after ``step`` steps: best so far (and those weights), and the curve."""
        better = self.alive & self.metric.better(metric, self.best)
        self.best.copy_(torch.where(better, metric, self.best))
        self.best_step.copy_(torch.where(better, step, self.best_step))
        for weights, best in zip(self.weights, self.best_weights):
            best.copy_(torch.where(better.view(-1, *[1] * (weights.dim() - 1)), weights.detach(), best))
        if self.curve_step(step):
            self.curve.append((step, torch.where(self.alive, metric, torch.nan)))

    def curve_step(self, step: int) -> bool:
        """Whether the curve gets a point after ``step`` steps."""
        return step % self.curve_every == 0 or step == self.last_step

    def record_held_out(self, metric: Tensor) -> None:
        """The held-out metric [K] of the weights the curve's latest point was recorded with."""
        self.held_out_curve.append(torch.where(self.alive, metric, torch.nan))

    @contextmanager
    def at_best(self) -> Iterator[None]:
        """Inside the block the weights are each member's weights at its best step."""
        current = [w.detach().clone() for w in self.weights]
        with torch.no_grad():
            for weights, best in zip(self.weights, self.best_weights):
                weights.copy_(best)
            try:
                yield
            finally:
                for weights, saved in zip(self.weights, current):
                    weights.copy_(saved)

    def outcomes(self, evaluation: dict[str, Tensor], metric: str,
                 at_best: dict[str, Tensor] | None = None) -> list[MemberOutcome]:
        """One outcome per member from the final ``evaluation`` ({column: [K]}, ``metric`` the main one) and
        the evaluation of the weights ``at_best`` (its other metrics become ``best_extra``)."""
        steps = [step for step, _ in self.curve]
        curves = torch.stack([values for _, values in self.curve]).cpu()
        held = torch.stack(self.held_out_curve).cpu() if self.held_out_curve else None
        members = []
        unset = -torch.inf if self.metric.higher_is_better else torch.inf  # no step was ever recorded as best
        for i in range(len(self.alive)):
            ok, scored = bool(self.alive[i]), bool(self.best[i] != unset)
            members.append(MemberOutcome(
                status=OK if ok else DIVERGED,
                final=float(evaluation[metric][i]) if ok else float("nan"),
                best=float(self.best[i]) if scored else float("nan"),
                best_step=int(self.best_step[i]),
                diverged_step=None if ok else int(self.diverged_step[i]),
                extra={name: _value(values[i]) if ok else float("nan") if values.dim() == 1 else None
                       for name, values in evaluation.items() if name != metric},
                best_extra={name: float(values[i]) if scored else float("nan")
                            for name, values in (at_best or {}).items() if name != metric and values.dim() == 1},
                curve_steps=steps,
                curve=[float(v) for v in curves[:, i]],
                held_out_curve=None if held is None else [float(v) for v in held[:, i]],
            ))
        return members


def _value(value: Tensor) -> float | list[float]:
    """A member's value of a result column: a number, or a list for a task's per-member array (e.g. the sdf
    task's coarse field, which its report draws); arrays are kept at the last step only."""
    return float(value) if value.dim() == 0 else value.flatten().tolist()


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA runs asynchronously), so that a clock reading means it is done."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class StepTimer:
    """Steps per second from step ``warmup`` on (the first steps pay one-off costs), with the time spent
    in ``paused`` blocks (evaluations) left out."""

    def __init__(self, device: torch.device, warmup: int):
        self.device, self.warmup = device, warmup
        self.started: float | None = None
        self.paused_s = 0.0

    def at(self, step: int) -> None:
        """Called before each step: the clock starts before step ``warmup``."""
        if step == self.warmup:
            synchronize(self.device)
            self.started = time.perf_counter()

    @contextmanager
    def paused(self) -> Iterator[None]:
        synchronize(self.device)  # work queued before the pause (a step on CUDA) is timed, not paused
        began = time.perf_counter()
        yield
        synchronize(self.device)
        if self.started is not None:
            self.paused_s += time.perf_counter() - began

    def rate(self, steps_done: int) -> float:
        """Timed steps per second once ``steps_done`` steps ran (NaN when none was timed)."""
        synchronize(self.device)
        timed = steps_done - self.warmup
        if self.started is None or timed <= 0:
            return float("nan")
        return timed / (time.perf_counter() - self.started - self.paused_s)
