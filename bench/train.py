"""The training loop over one ensemble: Adam, optional StepLR, full batch or minibatches, NaN handling, timing."""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from bench.errors import UsageError
from bench.models import PRECISIONS, Ensemble
from bench.speed.allocator import keep_large_blocks
from bench.speed.step import TrainingStep, matmul_precision
from bench.tasks import Task


CURVE_POINTS = 100  # about this many points of each training curve are kept (full batch)


@dataclass(frozen=True)
class TrainConfig:
    """steps: optimizer steps; lr_step/lr_gamma: StepLR (off when lr_step is None); batch_size: points per
    step (None = full batch); eval_every: steps between full-signal evaluations when training on minibatches
    (full-batch training reads the metric off each step's loss); batch_seed: seed of the minibatch order;
    precision: matmul precision of layers 1.. ("fp32", "tf32", "bf16"; see ``Ensemble``)."""

    steps: int = 300
    lr: float = 1e-4
    lr_step: int | None = None
    lr_gamma: float = 1.0
    batch_size: int | None = None
    eval_every: int = 100
    batch_seed: int = 0
    precision: str = "fp32"

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise UsageError(f"unknown precision {self.precision!r}; choose one of {', '.join(PRECISIONS)}")


@dataclass(frozen=True)
class MemberOutcome:
    """One member after training: metric at the end, best metric seen and after how many steps."""

    status: str  # "ok" or "diverged"
    final: float
    best: float
    best_step: int
    diverged_step: int | None
    extra: dict[str, float]  # the task's other final metrics (e.g. a Poisson task's gradient error)
    curve_steps: list[int]  # training curve: the metric after these many steps (NaN once diverged)
    curve: list[float]


@dataclass(frozen=True)
class TrainOutcome:
    members: list[MemberOutcome]
    steps_per_s: float  # optimizer steps per second after warm-up (each member advances at this rate)
    seconds: float  # wall time of the whole loop, evaluations included
    compiled: bool = False  # the step ran through torch.compile to the end (no fallback to eager)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train(model: Ensemble, task: Task, cfg: TrainConfig, progress: bool = True, compile: bool = False) -> TrainOutcome:
    """Train every member of ``model`` on ``task`` at once; a member whose loss turns NaN/inf stops
    counting (status "diverged") while the others go on. Model and task must be on the same device.
    ``compile``: run the step through torch.compile (see ``TrainingStep``); on the CPU the allocator is
    tuned first (``keep_large_blocks``)."""
    previous, model.precision = model.precision, cfg.precision
    try:
        with matmul_precision(cfg.precision):
            return _train(model, task, cfg, progress, compile)
    finally:
        model.precision = previous  # what follows (e.g. the final NTK) sees the model as it was given


def _train(model: Ensemble, task: Task, cfg: TrainConfig, progress: bool, compile: bool) -> TrainOutcome:
    device = task.coords.device
    if device.type == "cpu":
        keep_large_blocks()
    k = model.size
    step_fn = TrainingStep(model, task, compile)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, cfg.lr_step, cfg.lr_gamma) if cfg.lr_step else None
    full_batch = cfg.batch_size is None or cfg.batch_size >= task.size
    batches = torch.Generator().manual_seed(cfg.batch_seed)

    alive = torch.ones(k, dtype=torch.bool, device=device)
    diverged_step = torch.full((k,), -1, dtype=torch.long, device=device)
    best = torch.full((k,), -torch.inf, device=device)
    best_step = torch.zeros(k, dtype=torch.long, device=device)

    curve_every = max(1, cfg.steps // CURVE_POINTS) if full_batch else cfg.eval_every
    curve: list[tuple[int, torch.Tensor]] = []  # (step, metric [K]) every curve_every steps, kept on the device

    def record(metric: torch.Tensor, step: int) -> None:
        better = alive & (metric > best)
        best.copy_(torch.where(better, metric, best))
        best_step.copy_(torch.where(better, step, best_step))
        if step % curve_every == 0 or step == cfg.steps:
            curve.append((step, torch.where(alive, metric, torch.nan)))

    warmup = min(10, max(1, cfg.steps // 10))
    log_every = max(1, cfg.steps // 100)
    eval_seconds, timer_start, steps_done = 0.0, None, 0
    started = time.perf_counter()
    bar = tqdm(total=cfg.steps, desc=f"{task.name}:{task.signal} x{k}", unit="step",
               disable=True if not progress else None, leave=False, position=1)
    for step in range(cfg.steps):
        if step == warmup:
            _sync(device)
            timer_start = time.perf_counter()
        if not full_batch and step % cfg.eval_every == 0:
            t0 = time.perf_counter()
            record(task.evaluate(model)[task.metric], step)
            _sync(device)
            if timer_start is not None:
                eval_seconds += time.perf_counter() - t0
        idx = None if full_batch else torch.randint(task.size, (cfg.batch_size,), generator=batches).to(device)
        losses, metric = step_fn(idx, alive)
        finite = torch.isfinite(losses)
        diverged_step.copy_(torch.where(alive & ~finite, step, diverged_step))
        alive &= finite
        if metric is not None:  # full batch: the step's forward pass gives the metric of the current weights
            record(metric, step)
        optimizer.step()
        if scheduler:
            scheduler.step()
        steps_done = step + 1
        if step % log_every == 0 or step == cfg.steps - 1:
            if not bool(alive.any()):
                break
            bar.set_postfix(loss=f"{losses[alive].mean().item():.3g}", alive=f"{int(alive.sum())}/{k}", refresh=False)
        bar.update(1)
    bar.close()
    _sync(device)
    ended = time.perf_counter()

    evaluation = task.evaluate(model)
    final = evaluation[task.metric]
    broken = alive & ~torch.isfinite(final)  # the last update made the weights non-finite
    diverged_step.copy_(torch.where(broken, cfg.steps, diverged_step))
    alive &= ~broken
    record(final, cfg.steps)
    timed_steps = steps_done - warmup
    rate = timed_steps / (ended - timer_start - eval_seconds) if timer_start and timed_steps > 0 else float("nan")
    steps_logged = [step for step, _ in curve]
    values_logged = torch.stack([values for _, values in curve]).cpu()
    members = []
    for i in range(k):
        ok = bool(alive[i])
        members.append(MemberOutcome(
            status="ok" if ok else "diverged",
            final=float(final[i]) if ok else float("nan"),
            best=float(best[i]) if torch.isfinite(best[i]) else float("nan"),
            best_step=int(best_step[i]),
            diverged_step=None if ok else int(diverged_step[i]),
            extra={name: float(values[i]) for name, values in evaluation.items() if name != task.metric},
            curve_steps=steps_logged,
            curve=[float(v) for v in values_logged[:, i]],
        ))
    return TrainOutcome(members, rate, time.perf_counter() - started, step_fn.compiled is not None)
