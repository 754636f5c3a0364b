"""Tasks: a registry of functions ``fn(library, ref, **options) -> Task``, one file per task.

``ref`` is the part after ``NAME:`` in ``--task NAME:ref`` (a manifest signal, a file path or
``synthetic:...``); options are the task's typed keyword parameters, which the CLI exposes as flags
(``@register_task(help={"option": "text"})`` gives their help text).
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import torch
from torch import Tensor

from bench.errors import UsageError
from bench.models import Ensemble, SignalInfo
from bench.registry import Registry
from bench.signals import SignalLibrary

TASKS = Registry("task", skip=2)
register_task = TASKS.register


@dataclass(frozen=True)
class Task:
    """A signal-fitting problem: coords [N, d_in] in [-1, 1], target [N, d_out].

    metric: the results column (``snr_db`` or ``psnr_db``); metric_from_mse maps a full-signal MSE
    [K] to it; meta holds extra result columns (sample rate, image size, PSNR data range...).
    """

    name: str
    signal: str
    coords: Tensor
    target: Tensor
    info: SignalInfo
    metric: str
    metric_from_mse: Callable[[Tensor], Tensor]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return self.coords.shape[0]

    def to(self, device: torch.device | str) -> "Task":
        return replace(self, coords=self.coords.to(device), target=self.target.to(device))

    def losses(self, model: Ensemble, idx: Tensor | None = None) -> Tensor:
        """Per-member MSE [K] on the points ``idx`` (all points when None), with autograd."""
        coords, target = (self.coords, self.target) if idx is None else (self.coords[idx], self.target[idx])
        return (model(coords) - target).square().mean(dim=(1, 2))

    @torch.no_grad()
    def mse(self, model: Ensemble, chunk: int = 65536) -> Tensor:
        """Full-signal MSE per member [K], evaluated in chunks of points to bound memory."""
        total = torch.zeros(model.size, dtype=torch.float64, device=self.coords.device)
        for start in range(0, self.size, chunk):
            err = model(self.coords[start:start + chunk]) - self.target[start:start + chunk]
            total += err.double().square().sum(dim=(1, 2))
        return (total / self.target.numel()).float()


def load_builtin_tasks() -> Registry:
    """Import every module of this package so that their tasks register themselves."""
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
    return TASKS


def load_task(spec: str, library: SignalLibrary, options: dict[str, Any]) -> Task:
    """Build ``NAME:ref``; options set to None are left at the task's defaults, others must apply."""
    name, sep, ref = spec.partition(":")
    entry = load_builtin_tasks().get(name)
    if not sep or not ref:
        raise UsageError(f"--task needs NAME:SIGNAL, e.g. {name}:<signal or path>; got {spec!r}")
    given = {key: value for key, value in options.items() if value is not None}
    for key in given:
        if key not in entry.params:
            valid = ", ".join("--" + p.replace("_", "-") for p in entry.params) or "none"
            raise UsageError(f"--{key.replace('_', '-')} does not apply to task {name} (its options: {valid})")
    return entry.fn(library, ref, **given)
