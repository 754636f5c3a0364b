"""Training a job: one batched ensemble -> one row per cell. A failing ensemble is split in halves and
retried down to single members, whose failures become rows with status "oom" or "error"; the sweep
goes on. ``JobRunner`` bundles what any executor (``bench.sweep.executors``) needs to do this."""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from bench.errors import UsageError, is_out_of_memory
from bench.metrics import time_to_quality
from bench.models import Architecture, build_ensemble
from bench.ntk import NtkOptions, ntk_summaries
from bench.provenance import provenance
from bench.status import ERROR, OOM
from bench.speed.autocompile import should_compile
from bench.speed.ensemble_size import cache_key, members_per_ensemble
from bench.sweep.plan import DEFAULT_MAX_MEMBERS, TARGET_REVISION, Cell, Job, split
from bench.tasks import Task, load_builtin_tasks
from bench.training import Problem, train
from bench.training.checkpoint import DEFAULT_EVERY_S, Checkpoint


def train_cells(task: Task, cells: Sequence[Cell], device: torch.device, progress: bool,
                ntk: NtkOptions | None = None, compile: bool = False,
                checkpoint: Checkpoint | None = None) -> list[dict[str, Any]]:
    """Train ``cells`` as one ensemble on ``task`` (already on ``device``); one row per cell, with NTK
    summaries at the stages ``ntk`` asks for; ``checkpoint``: resume from it and save to it (``train``)."""
    first = cells[0]
    arch = Architecture.of(task.info, first.width, first.layers)
    model, used = build_ensemble([cell.member for cell in cells], arch, task.info)
    model.to(device)
    stages = ntk.stages if ntk else ()
    spectral = [{} for _ in cells]
    if "init" in stages:
        spectral = [a | b for a, b in zip(spectral, ntk_summaries(model, task, ntk.points, "ntk_init"))]
    outcome = train(model, task, first.train, progress, compile, checkpoint, [cell.train for cell in cells])
    if "final" in stages:
        spectral = [a | b for a, b in zip(spectral, ntk_summaries(model, task, ntk.points, "ntk_final"))]
    samples = min(first.train.batch_size or task.size, task.size)
    shared = {"ensemble_size": len(cells), "n_params": model.member_parameters(), "compiled": outcome.compiled,
              "steps_per_s": outcome.steps_per_s, "samples_per_s": outcome.steps_per_s * samples,
              "gflop_per_s": outcome.steps_per_s * (model.train_flops(samples) // model.size) / 1e9, "seconds": outcome.seconds}
    return [_columns(task, cell, params, device) | shared | ntk_columns | {
        "status": member.status, task.metric: member.final, f"best_{task.metric}": member.best,
        "best_step": member.best_step, "diverged_step": member.diverged_step, "error": None,
        "curve_steps": member.curve_steps, f"curve_{task.metric}": member.curve,
    } | time_to_quality(task.metric, member.curve_steps, member.curve, outcome.seconds, first.train.steps)
        | ({f"curve_{task.held_out.metric}": member.held_out_curve} | time_to_quality(
            task.held_out.metric, member.curve_steps, member.held_out_curve, outcome.seconds, first.train.steps)
           if task.held_out else {})
        | member.extra | {f"best_{name}": value for name, value in member.best_extra.items()}
        for cell, params, member, ntk_columns in zip(cells, used, outcome.members, spectral)]


def run_job(task: Task, cells: Sequence[Cell], device: torch.device, progress: bool = True,
            debug: bool = False, ntk: NtkOptions | None = None, compile: bool = False,
            checkpoint: Checkpoint | None = None) -> list[dict[str, Any]]:
    """``train_cells`` with failures as data. A failing ensemble is split in halves and each half retried,
    so out-of-memory finds a size that fits and one bad member (say, an init scheme that raises) cannot
    fail the others; a single member that still fails is recorded with status "oom" or "error" and the
    exception's message. With ``debug`` other exceptions propagate instead; a usage error (a setting that
    cannot work, whatever the ensemble size) always does. ``checkpoint`` serves the whole ensemble only (its
    halves start over)."""
    try:
        return train_cells(task, cells, device, progress, ntk, compile, checkpoint)
    except UsageError:  # a setting that cannot work (e.g. a scheme without a default for this kind of signal)
        raise
    except Exception as exc:
        oom = is_out_of_memory(exc)
        if debug and not oom:
            raise
        message = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".strip()
    gc.collect()  # outside the except block, so the traceback's tensors can be freed
    if device.type == "cuda":
        torch.cuda.empty_cache()
    if len(cells) > 1:
        half = (len(cells) + 1) // 2
        return (run_job(task, cells[:half], device, progress, debug, ntk, compile)
                + run_job(task, cells[half:], device, progress, debug, ntk, compile))
    return failed_rows(task, cells, device, OOM if oom else ERROR, message)


def failed_rows(task: Task, cells: Sequence[Cell], device: torch.device, status: str,
                message: str) -> list[dict[str, Any]]:
    """Rows recording that ``cells`` could not be trained (status "oom" or "error", with the reason)."""
    return [_columns(task, cell, cell.model.params, device) | {"status": status, "error": message} for cell in cells]


def _columns(task: Task, cell: Cell, params: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return ({"cell_key": cell.key, "task": cell.task, "signal": cell.signal, "signal_fingerprint": cell.fingerprint,
             "target_revision": TARGET_REVISION, "main_metric": task.table_metric}
            | task.meta
            | {"width": cell.width, "layers": cell.layers, "param_budget": cell.param_budget}
            | asdict(cell.train) | provenance(device)
            | {f"option.{key}": value for key, value in task_options(cell).items()}
            | {"model": cell.model.entry.name, "model_spec": cell.model.label, "seed": cell.seed}
            | {f"param.{key}": value for key, value in params.items()})


def task_options(cell: Cell) -> dict[str, Any]:
    """Every option of the cell's task as it was set: its declared default unless the cell gives it."""
    declared = load_builtin_tasks().get(cell.task).params
    return {name: param.default for name, param in declared.items()} | dict(cell.options)


def problem_of(job: Job, task: Task) -> Problem:
    """The training problem every cell of ``job`` (widths resolved, see ``JobRunner._sized``) shares on ``task``."""
    cell = job.cells[0]
    return Problem(task, cell.model, cell.width, cell.layers, cell.train)


@dataclass(frozen=True)
class JobRunner:
    """What training a job needs besides the job: the loaded tasks by ``Cell.task_key`` and how to train.
    It is shipped as is to remote workers (the tasks' tensors travel with it, so workers need no data).

    tune: split each job into ensembles of the size measured fastest on the device (``bench.speed.ensemble_size``);
    columns: extra columns of every row (e.g. the sweep's name); checkpoint_dir: where each ensemble saves its
    state every ``checkpoint_every_s`` seconds and resumes from after a kill (None: no checkpoints; local
    runs only, since a remote worker's disk is not the driver's).
    """

    tasks: dict[tuple, Task]
    ntk: NtkOptions | None = None
    compile_mode: str = "auto"  # auto (where it pays, see bench.speed.autocompile), on or off
    tune: bool = False
    columns: dict[str, Any] = field(default_factory=dict)
    checkpoint_dir: Path | None = None
    checkpoint_every_s: float = DEFAULT_EVERY_S

    def on(self, device: torch.device) -> JobRunner:
        """This runner with every task moved to ``device`` once (rather than once per job)."""
        return replace(self, tasks={key: task.to(device) for key, task in self.tasks.items()})

    def task(self, job: Job, device: torch.device) -> Task:
        """The task of ``job`` on ``device``."""
        return self.tasks[job.cells[0].task_key].to(device)

    def parts(self, job: Job, task: Task, member_steps: int | None = None) -> list[Job]:
        """The ensembles ``job`` trains as on its ``task``'s device (budgets resolved to widths);
        ``member_steps``: of this job and the later ones of its shape (``shape``) that this process will
        train (default: this job's), against which measuring the ensemble sizes is budgeted."""
        job = self._sized(job, task)
        if not self.tune:
            return [job]
        problem, cap, own = self._sizing(job, task)
        size = members_per_ensemble(problem, cap, compile=self.compile_mode == "on", member_steps=member_steps or own)
        return split(job, size)

    def shape(self, job: Job, task: Task) -> tuple[str, int]:
        """The ensemble-size cache entry that sizes ``job`` on ``task`` (jobs of one entry share a shape and
        its measurement) and the job's member-steps."""
        problem, cap, member_steps = self._sizing(self._sized(job, task), task)
        return cache_key(problem, cap), member_steps

    @staticmethod
    def _sizing(job: Job, task: Task) -> tuple[Problem, int, int]:
        """What sizes ``job``'s ensembles: its problem, the largest size worth timing (none beyond the job) and
        the job's member-steps."""
        cap = min(DEFAULT_MAX_MEMBERS, 1 << (len(job) - 1).bit_length())
        return problem_of(job, task), cap, sum(cell.train.steps for cell in job.cells)

    def run(self, job: Job, task: Task, progress: bool = True, debug: bool = False,
            ensembles: int = 1) -> list[dict[str, Any]]:
        """One ensemble's rows on its ``task``'s device (failures as rows, see ``run_job``); ``ensembles``:
        how many of its job's ensembles (``parts``), this one included, are still to run in this process."""
        job = self._sized(job, task)
        compile = should_compile(self.compile_mode, problem_of(job, task), len(job), ensembles)
        checkpoint = self.checkpoint([cell.key for cell in job.cells])
        rows = run_job(task, job.cells, task.coords.device, progress, debug, self.ntk, compile, checkpoint)
        return [row | self.columns for row in rows]  # the caller removes the checkpoint once they are stored

    def checkpoint(self, cell_keys: list[str]) -> Checkpoint | None:
        """The checkpoint of the ensemble of these cells, in this order (member k of the saved weights is
        cell k): a file named by the keys in order, so that only the same members in the same places resume
        from it."""
        if self.checkpoint_dir is None:
            return None
        name = hashlib.sha256(" ".join(cell_keys).encode()).hexdigest()[:16]
        return Checkpoint(self.checkpoint_dir / f"{name}.pt", self.checkpoint_every_s)

    @staticmethod
    def _sized(job: Job, task: Task) -> Job:
        """``job`` with its parameter budget resolved to a width on ``task``, once: the cells of a job share
        plan, layers and budget (``pack``). A job of widths, or already resolved, is returned as it is."""
        first = job.cells[0].with_width(task.info)
        if first is job.cells[0]:
            return job
        return Job(tuple(replace(cell, width=first.width) for cell in job.cells))

    def failed(self, job: Job, message: str) -> list[dict[str, Any]]:
        """Rows with status "error" for every cell of a job that could not run at all (e.g. its worker died)."""
        rows = failed_rows(self.tasks[job.cells[0].task_key], job.cells, torch.device("cpu"), ERROR, message)
        return [row | self.columns | {"device": "unknown", "device_name": "unknown (the worker was lost)"}
                for row in rows]
