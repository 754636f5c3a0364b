"""Training a job: one batched ensemble -> one row per cell. A failing ensemble is split in halves and
retried down to single members, whose failures become rows with status "oom" or "error"; the sweep
goes on. ``JobRunner`` bundles what any executor (``bench.experiment.executors``) needs to do this."""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from bench.signals.library import SignalLibrary
from bench.core.columns import CURVE_STEPS, Row, best_column, curve_column, option_column, param_column
from bench.core.errors import UsageError, is_out_of_memory
from bench.learned.families import learned_from
from bench.core.metrics import time_to_quality
from bench.models import Architecture, Ensemble, build_ensemble
from bench.analysis.ntk import NtkOptions, ntk_summaries
from bench.core.provenance import provenance
from bench.core.status import ERROR, OOM
from bench.perf.sizing import Sizer, cache_key
from bench.experiment.plan import DEFAULT_MAX_MEMBERS, TARGET_REVISION, Cell, Job, split
from bench.tasks import Task, load_builtin_tasks
from bench.training import MemberOutcome, Problem, TrainOutcome, train
from bench.training.checkpoint import DEFAULT_EVERY_S, Checkpoint


LOST_WORKER = {"device": "unknown", "device_name": "unknown (the worker was lost)"}


def _families(cells: Sequence[Cell], library: SignalLibrary | None) -> dict[str, dict[str, str]]:
    """Per model of ``cells``, once each: a learned init's ``family_fingerprint`` column
    (``bench.learned.families.learned_from``, which reads the families file and, from ``library``, its train
    sources), nothing for other schemes."""
    found = {}
    for cell in cells:
        if cell.model.label not in found:
            fingerprint = learned_from(cell.model, library)
            found[cell.model.label] = {} if fingerprint is None else {"family_fingerprint": fingerprint}
    return found


def _scores(task: Task, member: MemberOutcome, seconds: float, steps: int) -> Row:
    """A member's outcome, metrics, curves and artifacts (``bench.core.columns``): the task's metric at the end and at
    its best step, the curve and the steps to each level of it (and of the held-out metric), the task's other
    scores at the end and at the best step."""
    curves = {task.metric: member.curve} | ({task.held_out.metric: member.held_out_curve} if task.held_out else {})
    row = Row.of({"status": member.status, "error": None, "best_step": member.best_step,
                  "diverged_step": member.diverged_step, CURVE_STEPS: member.curve_steps},
                 {task.metric: member.final, best_column(task.metric): member.best},
                 {curve_column(metric): curve for metric, curve in curves.items()})
    for metric, curve in curves.items():
        row.add(time_to_quality(metric, member.curve_steps, curve, seconds, steps))
    return row.add(member.extra).add({best_column(name): value for name, value in member.best_extra.items()})


def code_of(model_code: str, task_code: str) -> str:
    """What names the code that trains a cell, for its checkpoint: its scheme's and task's fingerprints."""
    return f"{model_code}/{task_code}"


def numerics(device: torch.device, compiled: bool, batch: int) -> str:
    """What a row's numbers depend on besides its cell, the device kind (with a CPU's thread count, which
    ``device_name`` holds) and torch: the ``numerics`` column. Nothing more for eager steps on a CPU ("eager":
    a member's numbers do not change with the ensemble size, see tests/training/test_determinism.py); the batch count
    on CUDA, whose batched kernels are chosen by it; the batch and thread count of compiled steps, whose
    generated reductions are split by both."""
    if device.type == "cpu" and not compiled:
        return "eager"
    count = torch.get_num_threads()
    threads = f", {count} thread{'s' if count != 1 else ''}" if device.type == "cpu" else ""
    return f"{'compiled' if compiled else 'eager'}, batch {batch}{threads}"


def failed_rows(task: Task, cells: Sequence[Cell], device: torch.device | None, status: str,
                message: str) -> list[dict[str, Any]]:
    """Rows recording that ``cells`` could not be trained (status "oom" or "error", with the reason) on
    ``device`` (None: on a worker that was lost, so the device is unknown)."""
    where = provenance(device) if device else provenance(torch.device("cpu")) | LOST_WORKER
    return [_columns(task, cell, cell.model.params, where).add({"status": status, "error": message}) for cell in cells]


def _columns(task: Task, cell: Cell, params: dict[str, Any], where: dict[str, Any]) -> Row:
    return Row.of({"cell_key": cell.key, "task": cell.task, "signal": cell.signal,
                   "signal_fingerprint": cell.fingerprint, "target_revision": TARGET_REVISION,
                   "main_metric": task.table_metric},
                  task.meta,
                  {"width": cell.width, "layers": cell.layers, "param_budget": cell.param_budget},
                  asdict(cell.train), where,
                  {option_column(key): value for key, value in task_options(cell).items()},
                  {"model": cell.model.entry.name, "model_spec": cell.model.label, "seed": cell.seed,
                   "model_code": cell.model.code, "task_code": load_builtin_tasks().get(cell.task).code},
                  {param_column(key): value for key, value in params.items()})


def task_options(cell: Cell) -> dict[str, Any]:
    """Every option of the cell's task as it was set: its declared default unless the cell gives it."""
    declared = load_builtin_tasks().get(cell.task).params
    return {name: param.default for name, param in declared.items()} | dict(cell.options)


def problem_of(job: Job, task: Task) -> Problem:
    """The training problem every cell of ``job`` (widths resolved, see ``JobRunner._sized``) shares on ``task``."""
    cell = job.cells[0]
    return Problem(task, cell.model, cell.width, cell.layers, cell.train)


@dataclass(frozen=True)
class Fitted:
    """An ensemble after training (``JobRunner.fit_cells``): the model, the parameters in effect per member,
    the training outcome and the NTK summary columns per member."""

    model: Ensemble
    used: list[dict[str, Any]]
    outcome: TrainOutcome
    spectral: list[dict[str, Any]]


@dataclass(frozen=True)
class JobRunner:
    """What training a job needs besides the job: the loaded tasks by ``Cell.task_key`` and how to train.
    It is shipped as is to remote workers (the tasks' tensors travel with it, so workers need no data).

    compile: run the training step through torch.compile (its numbers differ from eager ones, see ``numerics``);
    sizer: splits each job into ensembles of the size measured fastest on a CPU (``bench.perf.sizing``; None:
    no splitting), where eager steps give every member the same numbers at any size; on CUDA or compiled, where the batch
    count changes them, every ensemble instead trains ``batch`` members (padded, see ``train_cells``);
    columns: extra columns of every row (e.g. the sweep's name); checkpoint_dir: where each ensemble saves its
    state every ``checkpoint_every_s`` seconds and resumes from after a kill (None: no checkpoints; local
    runs only, since a remote worker's disk is not the driver's); progress: progress bars; debug: an
    ensemble's exception raised with its traceback rather than stored as failed rows.
    """

    tasks: dict[tuple, Task]
    ntk: NtkOptions | None = None
    compile: bool = False
    sizer: Sizer | None = None
    batch: int = DEFAULT_MAX_MEMBERS
    columns: dict[str, Any] = field(default_factory=dict)
    checkpoint_dir: Path | None = None
    checkpoint_every_s: float = DEFAULT_EVERY_S
    progress: bool = True
    debug: bool = False

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
        job = self.sized(job, task)
        if self.sizer is None or self._fixed_batch(task):
            return [job]
        problem, cap, own = self._sizing(job, task)
        size = self.sizer.members(problem, cap, member_steps=member_steps or own)
        return split(job, size)

    def shape(self, job: Job, task: Task) -> tuple[str, int]:
        """The ensemble-size cache entry that sizes ``job`` on ``task`` (jobs of one entry share a shape and
        its measurement) and the job's member-steps."""
        problem, cap, member_steps = self._sizing(self.sized(job, task), task)
        return cache_key(problem, cap), member_steps

    @staticmethod
    def _sizing(job: Job, task: Task) -> tuple[Problem, int, int]:
        """What sizes ``job``'s ensembles: its problem, the largest size worth timing (none beyond the job) and
        the job's member-steps."""
        cap = min(DEFAULT_MAX_MEMBERS, 1 << (len(job) - 1).bit_length())
        return problem_of(job, task), cap, sum(cell.train.steps for cell in job.cells)

    def run(self, job: Job, task: Task) -> list[dict[str, Any]]:
        """One ensemble's rows on its ``task``'s device (failures as rows, see ``run_cells``)."""
        job = self.sized(job, task)
        tasks = load_builtin_tasks()
        checkpoint = self.checkpoint([cell.key for cell in job.cells],
                                     [code_of(cell.model.code, tasks.get(cell.task).code) for cell in job.cells])
        rows = self.run_cells(task, job.cells, checkpoint, batch=self.batch_of(job, task))
        return [row.add(self.columns) for row in rows]  # the caller removes the checkpoint once they are stored

    def train_cells(self, task: Task, cells: Sequence[Cell], checkpoint: Checkpoint | None = None,
                    batch: int | None = None) -> list[dict[str, Any]]:
        """Train ``cells`` as one ensemble on ``task`` (on its device); one row per cell, with NTK summaries at
        the stages the runner's ``ntk`` asks for; ``checkpoint``: resume from it and save to it (``train``).
        ``batch``: train exactly this many members, the cells and copies of them (whose rows are dropped), so
        that kernels chosen by the batch count (cuBLAS's) compute every cell the same way whatever the packing."""
        first, device = cells[0], task.coords.device
        fitted = self.fit_cells(task, cells, checkpoint, batch)
        model, outcome, used, spectral = fitted.model, fitted.outcome, fitted.used, fitted.spectral
        samples = min(first.train.batch_size or task.size, task.size)
        shared = {"ensemble_size": len(cells), "n_params": model.member_parameters(), "compiled": outcome.compiled,
                  "numerics": numerics(device, outcome.compiled, model.size),
                  "steps_per_s": outcome.steps_per_s, "samples_per_s": outcome.steps_per_s * samples,
                  "gflop_per_s": outcome.steps_per_s * (model.train_flops(samples) // model.size) / 1e9, "seconds": outcome.seconds}
        where, families = provenance(device), _families(cells, task.info.library)
        return [Row.of(_columns(task, cell, params, where), shared, families[cell.model.label], ntk_columns,
                       _scores(task, member, outcome.seconds, first.train.steps))
                for cell, params, member, ntk_columns in zip(cells, used, outcome.members, spectral)]

    def fit_cells(self, task: Task, cells: Sequence[Cell], checkpoint: Checkpoint | None = None,
                  batch: int | None = None) -> Fitted:
        """Train ``cells`` as one ensemble on ``task`` (``train_cells``, whose rows are made of what this returns):
        the trained ensemble (member k is cell k, then the padding copies), the parameters in effect per member,
        the training outcome and the NTK summaries per member."""
        first, device, ntk = cells[0], task.coords.device, self.ntk
        arch = Architecture.of(task.info, first.width, first.layers)
        padded = [cells[i % len(cells)] for i in range(max(batch or 0, len(cells)))]
        model, used = build_ensemble([cell.member for cell in padded], arch, task.info)
        model.to(device)
        stages = ntk.stages if ntk else ()
        spectral = [{} for _ in padded]
        if "init" in stages:
            spectral = [a | b for a, b in zip(spectral, ntk_summaries(model, task, ntk.points, "ntk_init"))]
        outcome = train(model, task, first.train, self.progress, self.compile, checkpoint,
                        [cell.train for cell in padded])
        if "final" in stages:
            spectral = [a | b for a, b in zip(spectral, ntk_summaries(model, task, ntk.points, "ntk_final"))]
        return Fitted(model, used, outcome, spectral)

    def run_cells(self, task: Task, cells: Sequence[Cell], checkpoint: Checkpoint | None = None,
                  batch: int | None = None) -> list[dict[str, Any]]:
        """``train_cells`` with failures as data. A failing ensemble is split in halves and each half retried,
        so out-of-memory finds a size that fits and one bad member (say, an init scheme that raises) cannot
        fail the others; a single member that still fails is recorded with status "oom" or "error" and the
        exception's message. With the runner's ``debug`` other exceptions propagate instead; a usage error (a setting that
        cannot work, whatever the ensemble size) always does. ``checkpoint`` serves the whole ensemble only (its
        halves start over). ``batch`` (see ``train_cells``) is halved with the ensemble when it ran out of memory,
        and kept otherwise, so one failing member does not change the numbers of the others."""
        try:
            return self.train_cells(task, cells, checkpoint, batch)
        except UsageError:  # a setting that cannot work (e.g. a scheme without a default for this kind of signal)
            raise
        except Exception as exc:
            oom = is_out_of_memory(exc)
            if self.debug and not oom:
                raise
            message = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".strip()
        gc.collect()  # outside the except block, so the traceback's tensors can be freed
        device = task.coords.device
        if device.type == "cuda":
            torch.cuda.empty_cache()
        if len(cells) > 1:
            half = (len(cells) + 1) // 2
            if batch and oom:  # the halves may fit where the whole did not (rows name the batch: ``numerics``)
                batch = -(-batch // 2)
            return self.run_cells(task, cells[:half], batch=batch) + self.run_cells(task, cells[half:], batch=batch)
        return failed_rows(task, cells, device, OOM if oom else ERROR, message)

    def _fixed_batch(self, task: Task) -> bool:
        """Whether every ensemble trains ``batch`` members, padded: where the batch count changes a member's
        numbers (CUDA's batched kernels; compiled steps, whose generated reductions it splits)."""
        return task.coords.device.type == "cuda" or self.compile

    def batch_of(self, job: Job, task: Task) -> int | None:
        """The members ``job``'s ensemble trains, its cells and copies of them (``train_cells``): ``batch`` where
        it is fixed, two for a lone member of a derivative task (``Task.derivative``), else its cells."""
        if self._fixed_batch(task):
            return self.batch
        return 2 if len(job) == 1 and task.derivative else None

    def checkpoint(self, cell_keys: list[str], codes: Sequence[str] = ()) -> Checkpoint | None:
        """The checkpoint of the ensemble of these cells, in this order (member k of the saved weights is
        cell k): a file named by the keys in order and by ``codes`` (``code_of`` each cell's scheme and task),
        so that only the same members in the same places, trained by the same code, resume from it."""
        if self.checkpoint_dir is None:
            return None
        name = hashlib.sha256(" ".join([*cell_keys, *codes]).encode()).hexdigest()[:16]
        return Checkpoint(self.checkpoint_dir / f"{name}.pt", self.checkpoint_every_s, tuple(cell_keys))

    @staticmethod
    def sized(job: Job, task: Task) -> Job:
        """``job`` with its parameter budget resolved to a width on ``task``, once: the cells of a job share
        plan, layers and budget (``pack``). A job of widths, or already resolved, is returned as it is."""
        first = job.cells[0].with_width(task.info)
        if first is job.cells[0]:
            return job
        return Job(tuple(replace(cell, width=first.width) for cell in job.cells))

    def failed(self, job: Job, message: str) -> list[dict[str, Any]]:
        """Rows with status "error" for every cell of a job that could not run at all (e.g. its worker died)."""
        rows = failed_rows(self.tasks[job.cells[0].task_key], job.cells, None, ERROR, message)
        return [row.add(self.columns) for row in rows]
