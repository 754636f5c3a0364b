"""Tasks: a registry of functions ``fn(library, ref, **options) -> Task``, one file per task.

``ref`` is the part after ``NAME:`` in ``--task NAME:ref`` (a manifest signal, a file path or
``synthetic:...``); options are the task's typed keyword parameters, which the CLI exposes as flags
(``@register_task(domain="audio", help={"option": "text"})`` declares the signal kind and help texts).
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field, fields, replace
from typing import Any, Callable

import torch
from torch import Tensor

from bench.errors import UsageError
from bench.models import Ensemble, SignalInfo
from bench.registry import Entry, Registry
from bench.signals import SignalLibrary

TASKS = Registry("task", skip=2)


def register_task(name: str | None = None, *, domain: str, help: dict[str, str] | None = None):
    """Decorator registering a task; ``domain`` ("audio" or "image") is the kind of signal it reads,
    ``help`` the command-line help of its options."""
    return TASKS.register(name, domain=domain, help=help or {})


@dataclass(frozen=True)
class Task:
    """Fitting a signal: coords [N, d_in] in [-1, 1] -> target [N, d_out], trained on the MSE.

    metric: the results column (``snr_db`` or ``psnr_db``); metric_from_mse maps a full-signal MSE [K]
    to it; meta holds extra result columns (sample rate, image size, PSNR data range...). Other tasks
    subclass this and override ``step`` and ``evaluate``.
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
        moved = {f.name: getattr(self, f.name).to(device) for f in fields(self)
                 if isinstance(getattr(self, f.name), Tensor)}
        return replace(self, **moved)

    def step(self, model: Ensemble, idx: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """Training losses [K] on the points ``idx`` (all points when None), with autograd, and the
        metric [K] of the current weights when this batch determines it (full batch), else None."""
        coords, target = (self.coords, self.target) if idx is None else (self.coords[idx], self.target[idx])
        losses = (model(coords) - target).square().mean(dim=(1, 2))
        return losses, self.metric_from_mse(losses.detach()) if idx is None else None

    @torch.no_grad()
    def evaluate(self, model: Ensemble) -> dict[str, Tensor]:
        """Full-signal metrics per member, {column: [K]}, evaluated in chunks of points."""
        return {self.metric: self.metric_from_mse(chunked_mse(model, self.coords, self.target))}


def chunked_mse(model: Ensemble, coords: Tensor, target: Tensor, chunk: int = 65536) -> Tensor:
    """MSE per member [K] of model(coords) against target [N, d_out], in chunks of points (float64 sums)."""
    total = torch.zeros(model.size, dtype=torch.float64, device=coords.device)
    for start in range(0, coords.shape[0], chunk):
        err = model(coords[start:start + chunk]) - target[start:start + chunk]
        total += err.double().square().sum(dim=(1, 2))
    return (total / target.numel()).float()


def load_builtin_tasks() -> Registry:
    """Import every module of this package so that their tasks register themselves."""
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
    return TASKS


def parse_task(spec: str) -> tuple[Entry, str]:
    """The registered task and the signal reference of ``NAME:ref``."""
    name, sep, ref = spec.partition(":")
    entry = load_builtin_tasks().get(name)
    if not sep or not ref:
        raise UsageError(f"--task needs NAME:SIGNAL, e.g. {name}:<signal or path>; got {spec!r}")
    return entry, ref


def load_task(spec: str, library: SignalLibrary, options: dict[str, Any]) -> Task:
    """Build ``NAME:ref``; options set to None are left at the task's defaults, others must apply."""
    entry, ref = parse_task(spec)
    name = entry.name
    given = {key: value for key, value in options.items() if value is not None}
    for key in given:
        if key not in entry.params:
            valid = ", ".join("--" + p.replace("_", "-") for p in entry.params) or "none"
            raise UsageError(f"--{key.replace('_', '-')} does not apply to task {name} (its options: {valid})")
    return entry.fn(library, ref, **given)
