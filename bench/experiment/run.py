"""A sweep from start to finish: check the results directory, skip finished cells, load the tasks,
keep the spec and the environment beside the results, then execute the rest."""

from __future__ import annotations

import itertools
import json
import platform
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from filelock import FileLock, Timeout

from bench import __version__
from bench.core.errors import BenchError, UsageError
from bench.learned.families import learned_from
from bench.learned.cache import save_seconds
from bench.models import Architecture, ModelChoice, unsupported, width_for_budget
from bench.analysis.ntk import ntk_points
from bench.core.provenance import provenance
from bench.signals.library import SignalLibrary
from bench.core.status import FINISHED
from bench.core.files import write_atomically
from bench.perf.sizing import Sizer
from bench.experiment.store import RESULTS_FILE, finished_cells, has_results, read_results, write_rows
from bench.experiment.execute import JobRunner, code_of
from bench.experiment.context import Context
from bench.experiment.plan import DEFAULT_MAX_MEMBERS, Cell, Job, expand, pack
from bench.experiment.spec import Spec, parse_spec
from bench.experiment.tuning import CHOSEN_FILE, SPEC_COPY, TEST_DIR, TUNING_DIR
from bench.tasks import Task, load_builtin_tasks, load_task
from bench.training.checkpoint import DEFAULT_EVERY_S, saved_cells

# "_" prefix: pyarrow, polars and duckdb (and so pandas.read_parquet(DIR)) skip these when reading a results directory
SPEC_FILE = "_spec.toml"
ENVIRONMENT_FILE = "_environment.json"
LOCK_FILE = "_lock"
CHECKPOINT_DIR = "_checkpoints"  # mid-run states of the ensembles in flight (.gitignore leaves them out)


@dataclass(frozen=True)
class SweepState:
    """Where a sweep stands: every cell of its plan, the status stored for each finished one, and the
    finished cells whose stored code differs from the code now (key -> the scheme or task whose code changed)."""

    cells: list[Cell]
    status: dict[str, str]  # cell key -> ok / diverged / error / oom
    changed: dict[str, str] = field(default_factory=dict)

    @property
    def left(self) -> list[Cell]:
        """Cells without a result: never run, or failed (error/oom) and so run again."""
        return [cell for cell in self.cells if self.status.get(cell.key) not in FINISHED]

    def retraining_changed(self) -> SweepState:
        """This state with the cells of changed code counted as not run: they train again, and their new
        rows replace the old ones."""
        return SweepState(self.cells, {k: s for k, s in self.status.items() if k not in self.changed})

    def refuse_changed(self, out_dir: Path) -> None:
        """A usage error naming the schemes and tasks whose code changed since their rows were stored, if any."""
        if self.changed:
            names = ", ".join(sorted(set(self.changed.values())))
            raise UsageError(f"{len(self.changed)} results in {out_dir} were made by other code of {names} than "
                             f"now (its source, or the family a learned init learns from, changed since); write to "
                             f"a new --out, or pass --retrain-changed to train those cells again")


def sweep_state(spec: Spec, out_dir: Path, cells: list[Cell] | None = None,
                library: SignalLibrary | None = None) -> SweepState:
    """The spec's cells (or ``cells``, e.g. a tuned test split), the status stored for each, and which
    finished ones were made by other code than their scheme's and task's now, or learned from another content
    of their family than now (rows that recorded it; its train sources read from ``library``)."""
    cells = expand(spec) if cells is None else cells
    by_key = {cell.key: cell for cell in cells}
    stored = finished_cells(out_dir)
    stored = stored[stored["cell_key"].isin(by_key)]
    changed, families = {}, {}
    for key, status, model_code, task_code, family in stored.itertuples(index=False):
        if status not in FINISHED:
            continue
        cell = by_key[key]
        if isinstance(model_code, str) and model_code != cell.model.code:
            changed[key] = cell.model.entry.name
        elif isinstance(task_code, str) and task_code != load_builtin_tasks().get(cell.task).code:
            changed[key] = f"task {cell.task}"
        elif isinstance(family, str) and family != _family_now(cell, families, library):
            changed[key] = f"{cell.model.entry.name} (its family's train split)"
    return SweepState(cells, dict(zip(stored["cell_key"], stored["status"])), changed)


def _family_now(cell: Cell, known: dict[str, str | None], library: SignalLibrary | None) -> str | None:
    """The fingerprint of the family the cell's learned init learns from now (``learned_from``), found once
    per model in ``known``."""
    if cell.model.label not in known:
        known[cell.model.label] = learned_from(cell.model, library or SignalLibrary())
    return known[cell.model.label]


def remove_stale_checkpoints(out_dir: Path, state: SweepState) -> None:
    """Delete the checkpoints in ``out_dir`` that no ensemble will resume from: those whose cells are all
    stored and none left to train (an ensemble of another make-up trained them), and, once no cell is left,
    every one. Hold ``results_lock(out_dir)``."""
    folder = out_dir / CHECKPOINT_DIR
    if not folder.is_dir():
        return
    left = {cell.key for cell in state.left}
    stored = set(finished_cells(out_dir)["cell_key"]) - left
    for path in folder.glob("*.pt"):
        cells = saved_cells(path) if left else set()
        if cells is not None and cells <= stored:
            path.unlink(missing_ok=True)


def stored_spec(out_dir: Path, library: SignalLibrary) -> Spec | None:
    """The spec a sweep directory was started with, or None for a directory of plain runs."""
    path = out_dir / SPEC_FILE
    return parse_spec(path.read_text(), str(path), library) if path.is_file() else None


@dataclass(frozen=True)
class Plan:
    """What a sweep will do: where it stands and the jobs (ensembles) for the cells left. With
    ``measure_sizes`` (no fixed max_members) each job is split further, on a CPU, into the ensemble size
    that runs fastest there (``bench.perf.sizing``)."""

    spec: Spec
    state: SweepState
    jobs: list[Job]
    measure_sizes: bool = False
    keep_spec: bool = True  # a sweep: run_plan stores the spec beside the results
    batch: int = DEFAULT_MAX_MEMBERS  # the most members of an ensemble: on CUDA, every ensemble's batch count


def plan_sweep(spec: Spec, out_dir: Path, context: Context, keep_spec: bool = True,
               cells: list[Cell] | None = None) -> Plan:
    """Plan the cells of ``spec`` not yet stored under ``out_dir``, writing nothing. With ``keep_spec`` (a
    sweep) the directory must hold this spec's sweep or nothing; without (``bench run``) it must not hold
    a sweep. The context's ``max_members`` (else the spec's) fixes the ensemble size; when neither is set it
    is measured on a CPU. ``cells``: these instead of the spec's (runs only, ``keep_spec`` False). Stored
    results made by other code of their scheme or task than now are a usage error, or, with the context's
    ``retrain_changed``, trained again."""
    library, max_members = context.library, context.max_members
    _check_directory(out_dir, spec, library, keep_spec)
    state = sweep_state(spec, out_dir, cells, library)
    if context.retrain_changed:
        state = state.retraining_changed()
    state.refuse_changed(out_dir)
    _read_code(state.left)
    if spec.ntk:
        _check_stored_ntk(spec, state, out_dir)
    cap = max_members or spec.max_members
    batch = cap or DEFAULT_MAX_MEMBERS
    return Plan(spec, state, pack(state.left, batch), measure_sizes=cap is None, keep_spec=keep_spec, batch=batch)


def _read_code(cells: list[Cell]) -> None:
    """Fingerprint the code of the cells' schemes and tasks now, as the plan is made: rows record the code a
    run planned with, not a file edited while it trains, and a remote worker receives the fingerprints with
    the cells instead of reading files it may not have (``ModelChoice.code`` is read once)."""
    tasks = load_builtin_tasks()
    for name in {cell.task for cell in cells}:
        tasks.get(name).code
    for model in {id(cell.model): cell.model for cell in cells}.values():
        model.code


def _check_stored_ntk(spec: Spec, state: SweepState, out_dir: Path) -> None:
    """Refuse NTK stages asked of members already stored without them: the summaries are computed while a
    member trains, so skipping the member as finished would quietly leave the columns out."""
    finished = {cell.key for cell in state.cells} - {cell.key for cell in state.left}
    if not finished:
        return
    rows = read_results(out_dir)
    rows = rows[rows["cell_key"].isin(finished) & rows["status"].eq("ok")]
    for stage in spec.ntk.stages:
        column = f"ntk_{stage}_total"
        lacking = len(rows) if column not in rows else int(rows[column].isna().sum())
        if lacking:
            raise UsageError(f"{lacking} of the members asked for are already stored in {out_dir} without the NTK "
                             f"at {stage} (it is computed while a member trains); write to a new --out to train them "
                             f"with --ntk {','.join(spec.ntk.stages)}")


def load_tasks(spec: Spec, library: SignalLibrary) -> dict[tuple, Task]:
    """Every target of the spec, by ``Cell.task_key`` (a bad file or option stops here, before anything is
    written), with the parameter budgets, NTK options and, for learned inits, how often their learning saves
    (``save_seconds``) checked against them."""
    if any(model.entry.meta.get("learned") for model in spec.models):
        save_seconds()
    tasks: dict[tuple, Task] = {}
    for grid in spec.tasks:
        for target in grid.targets:
            key = (grid.task, target.signal, target.options)
            if key not in tasks:
                tasks[key] = load_task(f"{grid.task}:{target.signal}", library, dict(target.options))
    architectures = _architectures(spec, {task.info for task in tasks.values()})  # budgets out of reach stop here
    if spec.ntk:
        _check_ntk(spec, tasks, architectures)
    if any(train.precision == "bf16" for train in spec.trains):
        _check_bf16(architectures)
    return tasks


def _check_bf16(architectures: list[tuple[ModelChoice, Architecture]]) -> None:
    """A model bf16 would leave at fp32 is a usage error before training, not a cell labelled bf16."""
    for model, arch in architectures:
        reason = unsupported([model], arch, "bf16")
        if reason:
            raise UsageError(f"{reason}; train {model.entry.name} at precision fp32 (a separate sweep or run if "
                             f"other models take bf16)")


def _architectures(spec: Spec, signals: set) -> list[tuple[ModelChoice, Architecture]]:
    """Each model with each network it gets on signals of these shapes: at each width, or at the width
    meeting each parameter budget (a budget out of reach is a usage error naming model and budget)."""
    found = []
    for model, signal, layers in itertools.product(spec.models, signals, spec.layers):
        widths = list(spec.widths)
        for budget in spec.budgets:
            try:
                widths.append(width_for_budget(model, signal.d_in, layers, signal.d_out, budget)[0])
            except UsageError as exc:
                raise UsageError(f"params: {exc}") from None
        found += [(model, Architecture.of(signal, width, layers)) for width in widths]
    return found


@dataclass
class Outcome:
    """What a run or sweep did: the rows it wrote, the wall seconds it trained, and the ``Sizer`` that sized
    its ensembles (None where sizes were fixed), which says how long measuring took."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    sizer: Sizer | None = None

    @property
    def measuring_s(self) -> float:
        return self.sizer.measuring_s if self.sizer else 0.0

    @property
    def reused_s(self) -> dict[str, float]:
        return dict(self.sizer.reused_s) if self.sizer else {}

    def __add__(self, other: Outcome) -> Outcome:
        """Two runs of one command (a tuned sweep's splits), which share a sizer."""
        return Outcome(self.rows + other.rows, self.seconds + other.seconds, self.sizer or other.sizer)


def run_plan(plan: Plan, tasks: dict[tuple, Task], out_dir: Path, context: Context,
             sizer: Sizer | None = None) -> Outcome:
    """Claim ``out_dir`` for the plan's spec (a sweep), record the environment, then train the jobs on
    ``tasks`` (``load_tasks``) with the context's executor (default: here, on its device; ``compile``:
    through torch.compile, see ``bench.experiment.execute.numerics``), storing each ensemble's rows as they
    arrive. Hold ``results_lock(out_dir)`` around planning and running. Run here, each ensemble saves its
    state every ``checkpoint_every_s`` seconds (None: never) into ``out_dir/_checkpoints`` (not results, not
    committed) and a rerun after a kill resumes it from there. ``sizer``: what measures the ensemble sizes
    where they are measured (default: a new one)."""
    if not plan.jobs:
        return Outcome()
    started = time.perf_counter()
    spec_file = out_dir / SPEC_FILE
    if plan.keep_spec and (not spec_file.is_file() or spec_file.read_text() != plan.spec.text):
        write_atomically(spec_file, plan.spec.text)  # a new sweep, or one grown by cells (_check_directory)
    executor = context.where()
    _record_environment(out_dir, context.device, executor.describe())
    needed = {job.cells[0].task_key: tasks[job.cells[0].task_key] for job in plan.jobs}  # not finished ones
    local = context.runs_here and context.checkpoint_every_s is not None
    sizer = (sizer or Sizer()) if plan.measure_sizes else None
    runner = JobRunner(needed, plan.spec.ntk, context.compile, sizer, plan.batch, {"sweep": plan.spec.name},
                       checkpoint_dir=out_dir / CHECKPOINT_DIR if local else None,
                       checkpoint_every_s=context.checkpoint_every_s if local else DEFAULT_EVERY_S,
                       progress=context.progress, debug=context.debug)
    written: list[dict[str, Any]] = []

    def write(rows: list[dict[str, Any]]) -> None:
        write_rows(out_dir, rows)
        written.extend(rows)
        checkpoint = runner.checkpoint([row["cell_key"] for row in rows],  # the rows are the job's cells, in order
                                       [code_of(row["model_code"], row["task_code"]) for row in rows])
        if checkpoint is not None:  # stored: the ensemble's checkpoint has served
            checkpoint.remove()

    executor.run(plan.jobs, runner, write)
    return Outcome(written, time.perf_counter() - started, sizer)


@contextmanager
def results_lock(out_dir: Path):
    """Hold the results directory's lock (``_lock`` in it): a second process writing there is refused at
    once, so that no cell is trained or stored twice and no session record is lost. A directory inside
    another results directory, or holding one, is refused before it is made. Callers validate everything
    first, so that a bad command creates no directory."""
    _check_not_nested(out_dir)
    with folder_lock(out_dir):
        yield


@contextmanager
def folder_lock(folder: Path):
    """Hold ``folder``'s ``_lock`` (the folder made first): a second process asking for it is refused at once
    with a one-line error. A tuned sweep holds its OUT this way, each split's results directory inside it
    with ``results_lock``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    if path.exists() and not path.is_file():
        raise BenchError(f"{path} is in the way of the directory's lock file (bench makes it there); move it away")
    lock = FileLock(path)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise BenchError(f"another bench process is writing results to {folder}; wait until it ends "
                         f"(bench status {folder}) or use another --out") from None
    try:
        yield
    finally:
        lock.release()  # the file stays: deleting it could let two processes lock two different files


def check_tuned(out: Path, spec: Spec) -> None:
    """Refuse ``out`` for the tuned sweep ``spec`` when it holds another tuned sweep (another OUT/spec.toml
    with rows or choices made from it), or where a split's results directory could not go; writes nothing."""
    for split in (TUNING_DIR, TEST_DIR):
        _check_not_nested(out / split)
    stored = out / SPEC_COPY
    started = has_results(out / TUNING_DIR) or has_results(out / TEST_DIR) or (out / CHOSEN_FILE).is_file()
    if started and stored.is_file() and stored.read_text() != spec.text:
        raise UsageError(f"{out} holds another tuned sweep ({stored}); use another --out, or resume that one "
                         f"with bench sweep {stored} --out {out}")


def claim_tuned(out: Path, spec: Spec) -> None:
    """Keep ``spec`` as the tuned sweep's OUT/spec.toml once ``check_tuned`` allows it; hold
    ``folder_lock(out)`` around it and the sweep."""
    check_tuned(out, spec)
    write_atomically(out / SPEC_COPY, spec.text)


def _check_ntk(spec: Spec, tasks: dict[tuple, Task], architectures: list[tuple[ModelChoice, Architecture]]) -> None:
    """NTK settings that cannot work are usage errors before training, not failed cells after it."""
    for task in tasks.values():
        ntk_points(task, spec.ntk.points)
    for model, arch in architectures:
        reason = unsupported([model], arch, "ntk")
        if reason:
            raise UsageError(f"{reason}; drop the NTK option or that model")


def _check_directory(out_dir: Path, spec: Spec, library: SignalLibrary, sweep: bool) -> None:
    """A results directory keeps its kind: a sweep's holds that sweep (or a grown one: the same cells and
    more), a run's holds runs, and neither nests in the other (a reader of the outer one would mix them in)."""
    existing = stored_spec(out_dir, library) if has_results(out_dir) else None  # a spec without rows claims nothing
    if not sweep:
        if existing is not None:
            raise UsageError(f"{out_dir} holds the sweep {existing.name!r} ({out_dir / SPEC_FILE}); bench run rows "
                             f"would mix into its tables: use another --out")
        return
    if existing is None:
        if has_results(out_dir):
            raise UsageError(f"{out_dir} holds results of bench run, not of a sweep; use another --out")
    else:
        keys = {cell.key for cell in expand(spec)}
        if not {cell.key for cell in expand(existing)} <= keys or existing.ntk != spec.ntk:
            raise UsageError(f"{out_dir} holds results of a different spec ({out_dir / SPEC_FILE}); use another --out, "
                             f"the same spec, or one that adds cells to it (more seeds, models, signals)")
        stale = set(finished_cells(out_dir)["cell_key"]) - keys
        if stale:  # made by an older bench (another TARGET_REVISION) or before a signal file changed
            raise UsageError(f"{out_dir} holds {len(stale)} results of cells this spec no longer has (made by an "
                             f"older version of bench, or from a signal file since changed); tables would mix "
                             f"them in: move the directory aside and rerun, or use another --out")


def _check_not_nested(out_dir: Path) -> None:
    """Refuse a results directory inside another one, or one holding another one."""
    out_dir = out_dir.resolve()
    for outer in out_dir.parents:
        if (outer / RESULTS_FILE).is_file() or (outer / SPEC_FILE).is_file():  # not any *.parquet up to /
            raise UsageError(f"{out_dir} is inside the results directory {outer}; a reader of that one would mix these "
                             f"rows in: use an --out outside it")
    if out_dir.is_dir():
        inner = next((path.parent for path in out_dir.rglob(RESULTS_FILE) if path.parent != out_dir), None)
        if inner is not None:
            raise UsageError(f"{out_dir} holds the results directory {inner}; a reader of {out_dir} would mix them in: "
                             f"use another --out")


def _record_environment(out_dir: Path, device: torch.device, executor: str) -> None:
    """Append this session (package, torch, executor, this process's device, time) to _environment.json."""
    path = out_dir / ENVIRONMENT_FILE
    try:
        sessions = json.loads(path.read_text()) if path.is_file() else []
        if not isinstance(sessions, list):
            raise ValueError("not a list of sessions")
    except ValueError as exc:
        raise BenchError(f"cannot read {path} ({exc}); move it away (results do not depend on it) and rerun") from None
    sessions.append({"package": f"inr-bench {__version__}", "python": sys.version.split()[0],
                     "platform": platform.platform(), "cuda": torch.version.cuda, "executor": executor}
                    | provenance(device))
    write_atomically(path, json.dumps(sessions, indent=2) + "\n")
