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

import numpy as np
import torch
from torch import Tensor

from bench.core.errors import UsageError
from bench.signals.masks import digest
from bench.core.metrics import declared, member_mse, spectral_centroid
from bench.models import Ensemble
from bench.signals.info import SignalInfo
from bench.core.registry import Entry, Registry
from bench.signals.library import SignalLibrary

TASKS = Registry("task", skip=2)


def register_task(name: str | None = None, *, domain: str, help: dict[str, str] | None = None,
                  effective: Callable[[SignalLibrary, str, dict[str, Any]], dict[str, Any]] | None = None):
    """Decorator registering a task; ``domain`` ("audio" or "image") is the kind of signal it reads,
    ``help`` the command-line help of its options. ``effective(library, ref, options)`` gives the options
    as they act on signal ``ref`` (e.g. ``max_samples`` beyond a clip's length is its length), so that
    two spellings of one run are one cell; by default the options as given."""
    return TASKS.register(name, domain=domain, help=help or {}, effective=effective)


def effective_options(entry: Entry, library: SignalLibrary, ref: str, options: dict[str, Any]) -> dict[str, Any]:
    """The options of task ``entry`` as they act on signal ``ref`` (see ``register_task``)."""
    hook = entry.meta.get("effective")
    return options if hook is None else hook(library, ref, options)


EVAL_CHUNK = 65536  # points per evaluation pass


@dataclass(frozen=True)
class Task:
    """Fitting a signal with a network: coords [N, d_in] in [-1, 1] -> output [K, N, d_out] for K members.

    The loss of a member is the MSE between what it ``fits`` (by default its output; a derivative for the
    Poisson tasks) and ``target`` [N, d_out]; its metric, the ``metric`` column (``snr_db`` / ``psnr_db``),
    is ``metric_from_mse`` of the MSE between its output and ``reference`` [N, d_out] (the target itself
    when fitting a signal; the clean signal when denoising; the image when fitting its gradient), after
    removing each one's mean when ``centred``. ``quality`` maps the full output [K, N, d_out] and the
    reference to further metric columns {column: [K]} (SSIM, LSD, SI-SNR), computed by the final evaluations
    only. ``loss_column`` names a column for the final full-signal loss where it is a result of its own
    (e.g. a Poisson task's ``grad_mse``); meta holds extra result columns (sample rate, image size, PSNR
    data range...). A new task builds one of these. The contract a task may change: ``fits`` (what the
    loss compares with the target: a derivative for the Poisson tasks), ``loss`` (the training loss, MSE by
    default), ``quality`` with ``quality_metrics`` (scores of the whole output that are no function of the
    MSE, e.g. SSIM), and the points it never trains on (``held_out_task``: scored in its final evaluations).
    Every metric it reports is declared (``bench.core.metrics.declare_metric``), which ``load_task`` checks.
    """

    name: str
    signal: str
    coords: Tensor
    target: Tensor
    reference: Tensor
    info: SignalInfo
    metric: str
    metric_from_mse: Callable[[Tensor], Tensor]
    meta: dict[str, Any] = field(default_factory=dict)
    centred: bool = False
    quality: Callable[[Tensor, Tensor], dict[str, Tensor]] | None = None
    quality_metrics: tuple[str, ...] = ()  # the columns ``quality`` returns
    loss_column: str | None = None
    eval_chunk: int = EVAL_CHUNK  # points per evaluation pass (fewer where autograd runs through it)
    held_out: HeldOut | None = None
    grid: tuple[int, ...] | None = None  # the shape the whole signal's points lie on, row-major: (N,) or (H, W)

    @property
    def size(self) -> int:
        return self.coords.shape[0]

    @property
    def derivative(self) -> bool:
        """Whether the training loss differentiates the output by the coordinates (a double backward). A lone
        member's double backward runs other kernels than an ensemble's, so it trains as one of two copies."""
        return False

    @property
    def table_metric(self) -> str:
        """The metric tables lead with: the held-out score of a held-out task, else the tracked ``metric``."""
        return self.held_out.metric if self.held_out is not None else self.metric

    @property
    def metrics(self) -> tuple[str, ...]:
        """Every metric column this task reports, each declared (``bench.core.metrics.declare_metric``)."""
        return tuple(dict.fromkeys((self.metric, self.table_metric, *self.quality_metrics)))

    def to(self, device: torch.device | str) -> "Task":
        """This task with its tensors on ``device`` (a tensor held by two fields, e.g. a target that is
        also the reference, stays one tensor)."""
        moved = _tensors_moved(self, device)
        if self.held_out is not None:
            moved["held_out"] = self.held_out.to(device)
        return replace(self, **moved)

    def fits(self, model: Ensemble, coords: Tensor, precision: str, training: bool) -> tuple[Tensor, Tensor]:
        """The hook of derivative tasks: the output [K, B, d_out] at coords [B, d_in] and what the loss
        compares with the target there ([K, B, target's width]); by default the output itself. ``training``:
        the result is back-propagated (a derivative must then keep its graph)."""
        out = model(coords, precision)
        return out, out

    def step(self, model: Ensemble, idx: Tensor | None, precision: str = "fp32") -> tuple[Tensor, Tensor | None]:
        """Training losses [K] on the points ``idx`` (all points when None), with autograd, and the
        metric [K] of the current weights when this batch determines it (full batch), else None."""
        coords, target = (self.coords, self.target) if idx is None else (self.coords[idx], self.target[idx])
        out, fitted = self.fits(model, coords, precision, training=True)
        losses = self.loss(fitted, target)
        if idx is not None:
            return losses, None
        if fitted is out and self.reference is self.target and not self.centred:
            return losses, self.metric_from_mse(losses.detach())
        return losses, self.metric_from_mse(self._error_mse(out.detach(), self.reference).float())

    def loss(self, fitted: Tensor, target: Tensor) -> Tensor:
        """The hook of tasks with another training loss: losses [K] of what the members fit [K, B, C] against
        the target there [B, C], with autograd; by default the MSE."""
        return member_mse(fitted, target)

    def _error_mse(self, out: Tensor, reference: Tensor) -> Tensor:
        """MSE [K] of out [K, N, d_out] against reference [N, d_out] (both centred when ``centred``), in float64."""
        return member_mse(out.double(), reference.double(), self.centred)

    def output(self, model: Ensemble, coords: Tensor, precision: str = "fp32") -> Tensor:
        """The output [K, M, d_out] at coords [M, d_in], in chunks of ``eval_chunk`` points (no graph kept)."""
        return torch.cat([self.fits(model, coords[start:start + self.eval_chunk], precision, training=False)[0]
                          .detach() for start in range(0, len(coords), self.eval_chunk)], dim=1)

    _output = output  # the name the sdf task calls (its code fingerprint covers its source: renaming would stale its rows)

    @torch.no_grad()
    def held_out_metric(self, model: Ensemble, precision: str = "fp32") -> Tensor:
        """The held-out metric [K] alone, on the held-out points alone (for the held-out training curve)."""
        return self.held_out.metric_of(self.output(model, self.held_out.coords[self.held_out.index], precision))

    @torch.no_grad()
    def evaluate(self, model: Ensemble, precision: str = "fp32", final: bool = True) -> dict[str, Tensor]:
        """Full-signal metrics per member, {column: [K]}, in chunks of ``eval_chunk`` points (float64 sums);
        ``final``: with the ``quality`` and ``loss_column`` metrics (not needed while training)."""
        k, n, device = model.size, self.size, self.coords.device
        error_sum, squared_sum, loss_sum = (torch.zeros(k, dtype=torch.float64, device=device) for _ in range(3))
        outs = []  # the whole output, when ``quality`` needs it
        for start in range(0, n, self.eval_chunk):
            chunk = slice(start, start + self.eval_chunk)
            out, fitted = self.fits(model, self.coords[chunk], precision, training=False)
            error = out.detach() - self.reference[chunk]
            if self.quality and final:
                outs.append(out.detach())
            squared_sum += error.double().square().sum(dim=(1, 2))
            error_sum += error.double().sum(dim=(1, 2))
            if self.loss_column and final:
                loss_sum += (fitted.detach() - self.target[chunk]).double().square().sum(dim=(1, 2))
        mse = squared_sum / self.reference.numel()
        if self.centred:  # mean of (e - mean e)^2 = mean e^2 - (mean e)^2, per member
            mse = mse - (error_sum / self.reference.numel()) ** 2
        metrics = {self.metric: self.metric_from_mse(mse.float())}
        if self.loss_column and final:
            metrics[self.loss_column] = (loss_sum / self.target.numel()).float()
        if self.quality and final:
            metrics |= self.quality(torch.cat(outs, dim=1), self.reference)
        if self.held_out is not None and final:
            metrics |= self.held_out.score(self.output(model, self.held_out.coords, precision))
        return metrics


def _tensors_moved(obj, device: torch.device | str) -> dict[str, Tensor]:
    """The tensor fields of a dataclass, each moved to ``device`` once (fields sharing a tensor share the copy)."""
    moved: dict[int, Tensor] = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, Tensor) and id(value) not in moved:
            moved[id(value)] = value.to(device)
    return {f.name: moved[id(getattr(obj, f.name))] for f in fields(obj) if isinstance(getattr(obj, f.name), Tensor)}


@dataclass(frozen=True)
class HeldOut:
    """The part of a signal a task never trains on, scored after training. ``coords`` [N, d_in] and
    ``reference`` [N, d_out] are the whole signal in its order (kept points included, because ``quality``
    metrics such as SSIM and LSD need a whole image or clip), ``index`` [M] the held-out points among them.
    ``score`` gives the ``metric`` column on the M held-out points only, from ``metric_from_mse`` of their
    MSE, the ``whole`` column (the metric's declared ``whole``; None: none) on all N points from
    ``whole_from_mse``, and ``quality`` of the whole output."""

    coords: Tensor
    reference: Tensor
    index: Tensor
    metric: str
    metric_from_mse: Callable[[Tensor], Tensor]
    whole: str | None = None
    whole_from_mse: Callable[[Tensor], Tensor] | None = None
    quality: Callable[[Tensor, Tensor], dict[str, Tensor]] | None = None

    def to(self, device: torch.device | str) -> "HeldOut":
        return replace(self, **_tensors_moved(self, device))

    @property
    def kept(self) -> np.ndarray:
        """The points trained on: sorted int64 indices [N - M] into ``coords``, every one not held out."""
        return np.setdiff1d(np.arange(len(self.coords)), self.index.cpu().numpy())

    def interpolated(self, values: np.ndarray) -> float:
        """The metric of a reconstruction of the held-out points, values [M, d_out], made without the network
        (e.g. interpolation between the kept points): a reference to compare the inits with."""
        return float(self.metric_of(torch.from_numpy(values).to(self.reference.device)[None]))

    def metric_of(self, held: Tensor) -> Tensor:
        """The metric [K] of outputs held [K, M, d_out] on the held-out points (MSE in float64)."""
        return self.metric_from_mse(member_mse(held.double(), self.reference[self.index].double()).float())

    def score(self, out: Tensor) -> dict[str, Tensor]:
        """Metrics {column: [K]} of the output out [K, N, d_out] of K members over all N points."""
        metrics = {self.metric: self.metric_of(out[:, self.index])}
        if self.whole is not None:
            metrics[self.whole] = self.whole_from_mse(member_mse(out.double(), self.reference.double()).float())
        if self.quality:
            metrics |= self.quality(out, self.reference)
        return metrics


def held_out_task(task: Task, kept: np.ndarray, metric_from_mse: Callable[[Tensor], Callable[[Tensor], Tensor]],
                  meta: dict[str, Any]) -> Task:
    """``task`` trained on the points ``kept`` only (sorted int64 indices into its points, from
    ``bench.signals.masks``) and scored on the others. ``metric_from_mse(reference)`` gives the metric function for
    a part of the reference (SNR needs that part's power). The returned task's own metric, tracked during
    training and choosing the best step, is the metric's declared ``fit`` (else ``fit_<metric>``) on the kept
    points; ``<metric>`` (the column tables and reports read) is measured on the held-out points, the
    ``quality`` metrics and the metric's declared ``whole`` (if any) on every point. The init sees the kept
    points only: the centroid (WINNER's input) is that of the kept values in their order, the holes closed
    up. ``meta`` (the mask's settings) joins the task's result columns."""
    index = torch.from_numpy(kept)
    held = torch.from_numpy(np.setdiff1d(np.arange(task.size), kept)).long()
    target = task.target[index]
    reference = target if task.reference is task.target else task.reference[index]
    centroid = spectral_centroid(target.numpy())
    declaration = declared(task.metric)
    fit, whole = declaration.fit or f"fit_{task.metric}", declaration.whole  # a plugin metric may declare neither
    held_out = HeldOut(task.coords, task.reference, held, task.metric, metric_from_mse(task.reference[held]),
                       whole, metric_from_mse(task.reference), task.quality)
    return replace(task, coords=task.coords[index], target=target, reference=reference,
                   info=replace(task.info, centroid=centroid), metric=fit,
                   metric_from_mse=metric_from_mse(reference), quality=None, held_out=held_out,
                   quality_metrics=(*([whole] if whole else []), *task.quality_metrics),
                   meta=task.meta | meta | {"centroid": centroid, "n_kept": len(kept), "n_held_out": len(held),
                                            "mask_digest": digest(kept)})


def seen_in_training(task: Task) -> dict[str, Any]:
    """The SignalInfo fields of what training sees (``values``, ``coords``, ``grid``; see SignalInfo): the
    target (None where the loss matches a derivative of the output), the training points, and the shape
    they lie on: the task's grid when it trains on every point, the kept sub-grid of a held-out task whose
    kept points are evenly spaced rows and columns (samples), else None."""
    grid = task.grid
    if grid is not None and task.held_out is not None:
        grid = sub_grid(grid, task.held_out.kept)
    elif grid is not None and int(np.prod(grid)) != task.size:
        grid = None
    return {"values": None if task.derivative else task.target, "coords": task.coords, "grid": grid}


def sub_grid(grid: tuple[int, ...], kept: np.ndarray) -> tuple[int, ...] | None:
    """The shape of the points ``kept`` (sorted raster indices into ``grid``) when they are every point on
    evenly spaced lines of each axis (a stride mask), else None."""
    axes = [np.unique(index) for index in np.unravel_index(kept, grid)]
    if int(np.prod([len(axis) for axis in axes])) != len(kept):  # not all crossings of those lines
        return None
    if any(len(np.unique(np.diff(axis))) > 1 for axis in axes):  # unevenly spaced
        return None
    return tuple(len(axis) for axis in axes)


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
    task = entry.fn(library, ref, **entry.parse_options(given))  # each value of its type and in its domain
    task = replace(task, info=replace(task.info, library=library, **seen_in_training(task)))
    for metric in task.metrics:
        try:
            declared(metric)
        except UsageError as exc:
            raise UsageError(f"task {name} reports {exc}") from None
    return task
