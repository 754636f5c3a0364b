"""The training loop over one ensemble: Adam, optional StepLR, full batch or minibatches, NaN handling, timing."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from bench.core.metrics import declared
from bench.models import Ensemble
from bench.tasks import Task
from bench.training.allocator import keep_large_blocks
from bench.training.checkpoint import Checkpoint
from bench.training.config import PER_MEMBER, TrainConfig
from bench.training.member_adam import MemberAdam, MemberStepLR
from bench.training.precision import matmul_precision
from bench.training.step import TrainingStep
from bench.training.tracking import MemberOutcome, MemberTracker, StepTimer

CURVE_POINTS = 100  # about this many points of each training curve are kept (full batch)


@dataclass(frozen=True)
class TrainOutcome:
    members: list[MemberOutcome]
    steps_per_s: float  # optimizer steps per second after warm-up (each member advances at this rate)
    seconds: float  # wall time of the whole loop, evaluations included
    compiled: bool = False  # the step ran through torch.compile to the end (no fallback to eager)


def train(model: Ensemble, task: Task, cfg: TrainConfig, progress: bool = True, compile: bool = False,
          checkpoint: Checkpoint | None = None, member_rates: Sequence[TrainConfig] | None = None) -> TrainOutcome:
    """Train every member of ``model`` on ``task`` at once; a member whose loss turns NaN/inf stops
    counting (status "diverged") while the others go on. Model and task must be on the same device.
    ``compile``: run the step through torch.compile (see ``TrainingStep``); on the CPU the allocator is
    tuned first (``keep_large_blocks``). ``checkpoint``: continue from its saved state if there is one,
    and save the loop's state there every ``checkpoint.every_s`` seconds (the caller removes it once
    the results are stored); a resumed run gives the numbers of an uninterrupted one. Its steps/s
    then times this process's steps only, and ``seconds`` adds the time saved with the checkpoint.
    ``member_rates``: one setting per member whose lr, lr_step and lr_gamma that member trains at (the rest
    of ``cfg`` is shared); where they differ, ``MemberAdam`` gives each member the updates of its lone run."""
    device = task.coords.device
    if device.type == "cpu":
        keep_large_blocks()
    saved = _loadable(checkpoint, model) if checkpoint else None
    if saved is not None:  # compiled and eager steps round differently: continue as the run began
        compile = saved["compile"]
    with matmul_precision(cfg.precision):
        step_fn = TrainingStep(model, task, cfg.precision, compile)
        optimizer, scheduler = _optimizer(model, cfg, member_rates)
        full_batch = cfg.batch_size is None or cfg.batch_size >= task.size
        batches = torch.Generator().manual_seed(cfg.batch_seed)
        curve_every = max(1, cfg.steps // CURVE_POINTS) if full_batch else cfg.eval_every
        members = MemberTracker(model.size, device, curve_every, cfg.steps,
                                [p for p in model.parameters() if p.requires_grad], declared(task.metric))
        start, seconds_before = 0, 0.0
        if saved is not None:
            start, seconds_before = _restore(saved, model, optimizer, scheduler, members, batches)
        timer = StepTimer(device, warmup=start + min(10, max(1, (cfg.steps - start) // 10)))
        log_every = max(1, cfg.steps // 100)
        started, steps_done = time.perf_counter(), start
        bar = tqdm(total=cfg.steps, initial=start, desc=f"{task.name}:{task.signal} x{model.size}", unit="step",
                   disable=True if not progress else None, leave=False, position=1)
        for step in range(start, cfg.steps):
            timer.at(step)
            if not full_batch and step % cfg.eval_every == 0:
                with timer.paused():
                    members.record(task.evaluate(model, cfg.precision, final=False)[task.metric], step)
                    if task.held_out is not None:
                        members.record_held_out(task.held_out_metric(model, cfg.precision))
            idx = None if full_batch else torch.randint(task.size, (cfg.batch_size,), generator=batches).to(device)
            losses, metric = step_fn(idx, members.alive)
            members.check(losses, step)
            if metric is not None:  # full batch: the step's forward pass gives the metric of the current weights
                members.record(metric, step)
                if task.held_out is not None and members.curve_step(step):  # the held-out curve, not timed
                    with timer.paused():
                        members.record_held_out(task.held_out_metric(model, cfg.precision))
            optimizer.step()
            model.project()  # the bounds a scheme keeps during training (Member.keep_within), if any
            if scheduler:
                scheduler.step()
            steps_done = step + 1
            if checkpoint is not None and checkpoint.due() and steps_done < cfg.steps:
                with timer.paused():
                    checkpoint.save({"step": steps_done, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                     "scheduler": scheduler.state_dict() if scheduler else None,
                                     "tracker": members.state_dict(), "batches": batches.get_state(), "compile": compile,
                                     "seconds": seconds_before + time.perf_counter() - started})
            if step % log_every == 0 or step == cfg.steps - 1:
                if not bool(members.alive.any()):
                    break
                bar.set_postfix(loss=f"{losses[members.alive].mean().item():.3g}",
                                alive=f"{int(members.alive.sum())}/{model.size}", refresh=False)
            bar.update(1)
        bar.close()
        rate = timer.rate(steps_done)
        evaluation = task.evaluate(model, cfg.precision)
        members.check_metric(evaluation[task.metric], cfg.steps)  # the last update made the weights non-finite
        members.record(evaluation[task.metric], cfg.steps)
        if task.held_out is not None:
            members.record_held_out(evaluation[task.held_out.metric])
        at_best = None
        if len(evaluation) > 1:  # the other metrics at the best step too
            with members.at_best():
                at_best = task.evaluate(model, cfg.precision)
    return TrainOutcome(members.outcomes(evaluation, task.metric, at_best), rate,
                        seconds_before + time.perf_counter() - started, step_fn.compiled is not None)


# the per-member settings (``bench.training.config.PER_MEMBER``) are those ``_optimizer`` gives each member:
# a setting declared per-member must be handled there, or members packed together would share one value
assert set(PER_MEMBER) == {"lr", "lr_step", "lr_gamma"}, "a per-member setting _optimizer does not handle"


def _optimizer(model: Ensemble, cfg: TrainConfig, member_rates: Sequence[TrainConfig] | None):
    """Adam and StepLR for the ensemble: torch's when every member trains at ``cfg``'s rates, else one rate
    and schedule per member (``MemberAdam``, ``MemberStepLR``)."""
    rates = [(s.lr, s.lr_step, s.lr_gamma) for s in member_rates or ()]
    if len(set(rates)) > 1:
        optimizer = MemberAdam(model.parameters(), [lr for lr, _, _ in rates])
        return optimizer, (MemberStepLR(optimizer, [step for _, step, _ in rates], [gamma for _, _, gamma in rates])
                           if any(step for _, step, _ in rates) else None)
    lr, lr_step, lr_gamma = rates[0] if rates else (cfg.lr, cfg.lr_step, cfg.lr_gamma)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    return optimizer, torch.optim.lr_scheduler.StepLR(optimizer, lr_step, lr_gamma) if lr_step else None


def _loadable(checkpoint: Checkpoint, model: Ensemble) -> dict | None:
    """The checkpoint's state if it holds this network (the same tensors, of the same shapes); a file that
    cannot be read or holds another network (e.g. left by an older version) is removed, and the run starts
    from step 0: a checkpoint is only ever a head start."""
    try:
        saved = checkpoint.load()
    except Exception:  # noqa: BLE001 - truncated, foreign or unpicklable: start over
        saved = {}
    if saved is None:
        return None
    ours = {name: tensor.shape for name, tensor in model.state_dict().items()}
    needed = ("step", "seconds", "compile", "optimizer", "scheduler", "tracker", "batches")
    theirs = saved.get("model") if isinstance(saved, dict) else None
    if (not isinstance(theirs, dict) or {name: getattr(t, "shape", None) for name, t in theirs.items()} != ours
            or not all(key in saved for key in needed)):
        checkpoint.remove()
        return None
    return saved


def _restore(saved: dict, model: Ensemble, optimizer, scheduler, members: MemberTracker,
             batches: torch.Generator) -> tuple[int, float]:
    """Put a checkpoint's state back into the loop's objects; returns the step reached and the seconds spent."""
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(saved["scheduler"])
    members.load_state_dict(saved["tracker"])
    batches.set_state(saved["batches"])
    return saved["step"], saved["seconds"]
