"""The library under the command line: what ``bench sweep``, ``bench run``, ``bench status`` and ``bench report``
do, as functions a notebook or another tool can call. Each takes what to do (a spec, folders) and a
``Context`` (how: device, executor, ensemble size, data folder, what to print); one-line messages go to
``context.say``. The CLI parses, calls one of these and prints what it returns.

    from bench.api import Context, sweep
    outcome = sweep("quick", "runs/quick", Context(progress=False))
    outcome.rows  # one dict per member trained
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd

from bench.core.errors import BenchError
from bench.core.status import DIVERGED, ERROR, FAILED, FINISHED, OK, OOM
from bench.experiment.context import Context
from bench.experiment.presets import spec_path
from bench.experiment.progress import eta
from bench.experiment.run import (Outcome, Plan, check_tuned, claim_tuned, folder_lock, load_tasks, plan_sweep,
                                  remove_stale_checkpoints, results_lock, run_plan, stored_spec, sweep_state)
from bench.experiment.spec import Spec, load_spec
from bench.experiment.store import has_results, read_results
from bench.experiment.tuning import (CHOSEN_FILE, TEST_DIR, TUNING_DIR, check_metric, choose, test_cells,
                                     tuned_settings, tuning_spec, write_chosen)
from bench.perf.sizing import Sizer
from bench.perf.threads import set_threads
from bench.report.readme import write_report
from bench.report.time_to_quality import with_time_to_quality
from bench.report.tuned import is_tuned, write_tuned_report
from bench.signals.library import SignalLibrary
from bench.training.precision import check_available

__all__ = ["Context", "Outcome", "dry_run", "load", "report", "results", "run", "site", "status", "sweep"]

REPORTED_BY = ("model_spec", "signal", "status")  # the columns tables and reports group by


def load(spec: str | Path | Spec, library: SignalLibrary | None = None) -> Spec:
    """A spec: the name of a packaged one ("quick"), a TOML file, or a ``Spec`` as it is."""
    return spec if isinstance(spec, Spec) else load_spec(spec_path(str(spec)), library or SignalLibrary())


def sweep(spec: str | Path | Spec, out: str | Path | None = None, context: Context | None = None) -> Outcome:
    """Train every cell of ``spec`` not yet stored in ``out`` (default ``runs/<spec name>``), resumably: the
    rows of each ensemble are stored as it ends, and a rerun after a crash trains only what is left. A spec
    with [tune] trains its tuning split into OUT/tuning, chooses each model's settings from those rows alone
    (OUT/chosen.json), then trains the test split into OUT/test. Failed cells are rows with status error/oom
    (``Outcome.rows``); a usage problem raises before anything is written."""
    context = context or Context()
    spec = load(spec, context.library)
    out = Path(out or f"runs/{spec.name}")
    if spec.tune is not None:
        return _tuned(spec, out, context)
    tasks = load_tasks(spec, context.library)  # bad files and options stop here, before the directory is touched
    _check_precision(spec, context)
    return _train(spec, out, context, tasks, _where(context))


def dry_run(spec: str | Path | Spec, out: str | Path | None = None, context: Context | None = None) -> Plan:
    """The plan ``sweep`` would follow (for a tuned spec, its tuning split's, into OUT/tuning), writing nothing;
    it refuses what the sweep would refuse before training (a precision the device lacks, a bad thread count)."""
    context = context or Context()
    spec = load(spec, context.library)
    out = Path(out or f"runs/{spec.name}")
    _check_precision(spec, context)
    _where(context)
    if spec.tune is None:
        return plan_sweep(spec, out, context)
    tuning, test = tuning_spec(spec), replace(spec, tune=None)
    check_tuned(out, spec)
    check_metric(spec, load_tasks(tuning, context.library) | load_tasks(test, context.library))  # as the run would
    context.say(f"{spec.name}: the tuning split first (into {out / TUNING_DIR}), then the test split at each "
                f"model's choice and at the defaults (into {out / TEST_DIR})")
    return plan_sweep(tuning, out / TUNING_DIR, context, keep_spec=False)


def run(spec: Spec, out: str | Path, context: Context | None = None) -> Outcome:
    """``bench run``: the members of a one-task spec (``bench.experiment.presets.run_spec``) into ``out``, a
    folder of plain runs (no sweep spec kept): members already stored with the same settings are skipped."""
    context = context or Context()
    out = Path(out)
    tasks = load_tasks(spec, context.library)  # bad files and options stop here, before the directory is touched
    _check_precision(spec, context)
    where = _where(context)
    with results_lock(out):
        plan = plan_sweep(spec, out, context, keep_spec=False)
        remove_stale_checkpoints(out, plan.state)
        finished = len(plan.state.cells) - len(plan.state.left)
        if not plan.jobs:
            context.say(f"nothing to run: all {finished} members are already in {out} (same settings and seeds)")
            return Outcome()
        grid, left = spec.tasks[0], len(plan.state.left)
        groups = (f"{_count(len(plan.jobs), 'network')} (as many members train at once as this CPU runs fastest, "
                  f"measured: perhaps one after another)" if _measured(plan, context)
                  else _count(len(plan.jobs), "ensemble"))
        width = spec.widths[0] if spec.widths else f"(width of {spec.budgets[0]:,} params)"
        steps = "/".join(str(s) for s in dict.fromkeys(t.steps for t in spec.trains))
        context.say(f"{grid.task}:{grid.signals[0]}: {_count(left, 'member')} on {groups}"
                    + (f" ({finished} already in {out})" if finished else "")
                    + f", {spec.layers[0]} x {width}, {steps} steps on {where}")
        return run_plan(plan, tasks, out, context)


def status(out: str | Path, library: SignalLibrary | None = None) -> list[str]:
    """How far the sweep in ``out`` has come, in lines: cells done (ok, diverged), failed, stale (made by other
    code than now), not run yet, and an ETA; for a tuned sweep, each split's rows and whether the choices
    are made; for a folder of plain runs, its rows by status."""
    out, library = Path(out), library or SignalLibrary()
    if (out / TUNING_DIR).is_dir() and not has_results(out):  # a tuned sweep: its two splits
        lines = []
        for split in (TUNING_DIR, TEST_DIR):
            rows = read_results(out / split) if has_results(out / split) else None
            counts = rows["status"].value_counts() if rows is not None else {}
            lines.append(f"{out / split}: {len(rows) if rows is not None else 0} rows"
                         + "".join(f", {n} {s}" for s, n in counts.items()))
        return lines + [f"choices: {out / CHOSEN_FILE}" if (out / CHOSEN_FILE).is_file() else "choices: not made yet"]
    stored = read_results(out) if has_results(out) else None
    spec = stored_spec(out, library) if out.is_dir() else None
    if spec is None:
        if stored is None:
            raise BenchError(f"{out} holds no sweep (no _spec.toml) and no results; start one with bench sweep")
        counts = stored["status"].value_counts()
        return [f"{out}: {len(stored)} rows (no _spec.toml: plain runs): "
                + ", ".join(f"{n} {s}" for s, n in counts.items())]
    state = sweep_state(spec, out, library=library)
    statuses = [status for key, status in state.status.items() if key not in state.changed]
    done = {s: statuses.count(s) for s in FINISHED}
    failed = {s: statuses.count(s) for s in FAILED}
    stale = (f", {len(state.changed)} stale (made by other code of {', '.join(sorted(set(state.changed.values())))}"
             f" than now; bench sweep --retrain-changed trains them again)" if state.changed else "")
    line = (f"{spec.name}: {len(state.cells)} cells: {sum(done.values())} done ({done[OK]} ok, "
            f"{done[DIVERGED]} diverged), {sum(failed.values())} failed ({failed[ERROR]} error, "
            f"{failed[OOM]} oom; the next sweep runs them again){stale}, "
            f"{len(state.cells) - len(state.status)} not run yet")
    remaining = eta(stored, len(state.left))
    return [line + (f"; {remaining}" if remaining else "")]


def results(path: str | Path) -> pd.DataFrame:
    """The rows of results directory ``path`` (with the time-to-quality columns), which must have the columns
    reports group by."""
    rows = read_results(path)
    lacking = [column for column in REPORTED_BY if column not in rows]
    if lacking:
        raise BenchError(f"the rows in {path} have no {' or '.join(lacking)} column, so they were not written by "
                         f"bench run or bench sweep; point at a results directory of theirs")
    return with_time_to_quality(rows)


def report(folder: str | Path, out: str | Path, baseline: str | None = None, notes: str | None = None,
           command: str = "", library: SignalLibrary | None = None) -> Path:
    """Write the report of results directory ``folder`` into ``out`` (README.md, tables, significance against
    ``baseline``, default siren, figures); a tuned sweep's folder gets its tuned report, then its test split's
    own in OUT/test. ``notes``: markdown placed under the title; ``command``: the command named as the
    report's maker. Returns the report's README."""
    folder, out = Path(folder), Path(out)
    if is_tuned(folder):
        write_tuned_report(folder, out, command, library or SignalLibrary(), notes)
        write_report(results(folder / TEST_DIR), folder / TEST_DIR, out / TEST_DIR, baseline or "siren", command,
                     notes, explicit_baseline=baseline is not None)
        return out / "README.md"
    return write_report(results(folder), folder, out, baseline or "siren", command, notes,
                        explicit_baseline=baseline is not None)


def reconstruct(folder: str | Path, context: Context | None = None) -> list:
    """Keep what the median-seed member of each setting of sweep ``folder`` fits, trained again from its cell on the
    context's device and threads (``bench.experiment.reconstruct``); ``bench report`` then draws them. Returns the
    ``Reconstruction`` of each."""
    from bench.experiment.reconstruct import reconstruct as keep_fits

    context = context or Context()
    where = _where(context)
    context.say(f"training again on {where}")
    return keep_fits(folder, context.library, context.device, context.say)


def site(root: str | Path = "results", out: str | Path = "site") -> Path:
    """Build the static results site of every report under ``root`` into ``out`` (``bench.report.site``);
    returns its front page."""
    from bench.report.site import build_site

    return build_site(Path(root), Path(out))[0]


def _tuned(spec: Spec, out: Path, context: Context) -> Outcome:
    """A spec with [tune] (see ``sweep``); OUT is held for the whole of it and keeps one tuned sweep."""
    tuning, test = tuning_spec(spec), replace(spec, tune=None)
    tasks = load_tasks(tuning, context.library) | load_tasks(test, context.library)  # every bad input stops here
    check_metric(spec, tasks)
    _check_precision(spec, context)
    where = _where(context)
    with folder_lock(out):  # a second tuned sweep on OUT stops here, before it changes anything
        claim_tuned(out, spec)
        sizer = Sizer()  # one for both splits: a size measured on the tuning split serves the test split
        outcome = _train(tuning, out / TUNING_DIR, context, tasks, where, keep_spec=False, sizer=sizer)
        if any(row["status"] in FAILED for row in outcome.rows):
            return outcome
        choices = choose(spec, read_results(out / TUNING_DIR))
        write_chosen(out, choices)
        for choice in choices:
            settings = "".join(f", {key}={getattr(choice.train, key)}" for key in tuned_settings(spec))
            context.say(f"chosen for {choice.model} on {choice.task}: {choice.chosen.label}{settings} (mean "
                        f"{choice.metric} {choice.score:.2f} on the tuning split)")
        context.say(f"choices in {out / CHOSEN_FILE}")
        return outcome + _train(test, out / TEST_DIR, context, tasks, where, cells=test_cells(spec, choices),
                                keep_spec=False, sizer=sizer)


def _train(spec: Spec, out: Path, context: Context, tasks: dict, where: str, cells=None, keep_spec: bool = True,
           sizer: Sizer | None = None) -> Outcome:
    """Plan and train the cells of ``spec`` (or ``cells``) not yet in ``out`` (sizing ensembles with ``sizer``,
    default a new one, where they are measured)."""
    with results_lock(out):
        plan = plan_sweep(spec, out, context, keep_spec=keep_spec, cells=cells)
        remove_stale_checkpoints(out, plan.state)
        total, left = len(plan.state.cells), len(plan.state.left)
        if not plan.jobs:
            context.say(f"nothing to run: all {total} cells are already in {out}")
            return Outcome()
        groups = (f"{len(plan.jobs)} groups (ensemble sizes measured on the CPU)" if _measured(plan, context)
                  else f"{len(plan.jobs)} ensembles")
        context.say(f"{spec.name}: {total} cells, {total - left} finished, {left} to run in {groups} on {where} "
                    f"-> {out}")
        return run_plan(plan, tasks, out, context, sizer)


def _check_precision(spec: Spec, context: Context) -> None:
    """A precision the device cannot train at is a usage error before anything runs (on Ray, each worker's
    device decides)."""
    if context.runs_here:
        check_available({train.precision for train in spec.trains + (spec.tune.trains if spec.tune else ())},
                        context.device)


def _where(context: Context) -> str:
    """Where the ensembles train, as the run's first line says it; applies the context's threads to a run here
    on a CPU."""
    executor = context.where()
    if not context.runs_here:
        return f"ray ({executor.address or 'local instance'})"
    if context.device.type != "cpu":
        return str(context.device)
    return f"{context.device}, {set_threads(str(context.threads))}"


def _measured(plan: Plan, context: Context) -> bool:
    """Whether the plan's ensemble sizes are measured (eager steps, here on a CPU)."""
    return plan.measure_sizes and context.device.type == "cpu" and not context.compile and context.runs_here


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' if n != 1 else ''}"

