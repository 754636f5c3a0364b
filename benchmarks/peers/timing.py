"""What a peer's training returns, and the clock that gives its steady-state rate."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Trained:
    """losses [S, K]: each member's MSE before step s (float64 copies of the peer's values); final [K]: the MSE
    after the last step; member_steps_per_s: member-steps per second after the warm-up steps; warmup_s: what
    the warm-up steps took beyond their time at the steady rate (compiling, first-use costs), in seconds."""

    losses: np.ndarray
    final: np.ndarray
    member_steps_per_s: float
    warmup_s: float


def warmup_steps(steps: int) -> int:
    """Steps left out of the steady rate: a tenth, 1 to 10 (what ``bench.training``'s own step timer leaves out)."""
    return min(10, max(1, steps // 10))


class SteadyClock:
    """Call ``tick()`` before each step; the first ``warmup`` steps are timed apart (warm-up, compiling), the
    rest give the steady rate. ``sync`` waits for work queued by earlier steps (JAX dispatches asynchronously)."""

    def __init__(self, warmup: int, sync: Callable[[], None] = lambda: None):
        self.warmup, self.sync = warmup, sync
        self.ticks = 0
        self.started = self.steady_from = 0.0
        self.warmup_s = float("nan")

    def tick(self) -> None:
        if self.ticks in (0, self.warmup):
            self.sync()
            now = time.perf_counter()
            if self.ticks == 0:
                self.started = now
            if self.ticks == self.warmup:
                self.warmup_s, self.steady_from = now - self.started, now
        self.ticks += 1

    def finish(self, member_steps_per_tick: int) -> tuple[float, float]:
        """After the last step: member-steps per second of the steps after the warm-up, and the seconds the
        warm-up steps took beyond their time at that rate (both NaN when no step was timed)."""
        self.sync()
        timed = self.ticks - self.warmup
        if timed <= 0:
            return float("nan"), float("nan")
        per_tick = (time.perf_counter() - self.steady_from) / timed
        return member_steps_per_tick / per_tick, self.warmup_s - self.warmup * per_tick
