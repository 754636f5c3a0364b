"""`bench sweep` (a spec's grid, resumably; --dry-run) and `bench status` (how far a sweep has come)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.cli.options import (add_checkpoint, add_compile, add_data_dir, add_device, add_progress, add_retrain_changed,
                               add_threads, common, cpu_threads, measuring_share, non_negative, positive)
from bench.core.errors import BenchError, UsageError
from bench.signals.library import SignalLibrary
from bench.core.status import DIVERGED, ERROR, FAILED, FINISHED, OK, OOM
from bench.experiment.presets import spec_path
from bench.experiment.spec import Spec, load_spec

DRY_RUN_LINES = 40  # ensembles listed by --dry-run before "... and N more"
LARGE_GRID = 10_000  # cells from which bench sweep announces the count before planning
MAX_CELLS = 1_000_000  # cells bench sweep plans unless --max-cells says more


def add_sweep(sub) -> None:
    sweep = sub.add_parser("sweep", parents=[common()], help="run a spec's grid as batched ensembles, resumably",
                           description="Run every cell of a sweep spec (models x params x tasks x signals x widths x "
                                       "layers x seeds). Finished cells found in --out are skipped, so rerunning "
                                       "after a crash resumes; one process at a time writes to --out. Diverged "
                                       "members are results; the exit code is 1 only when cells failed (error/oom). "
                                       "Off a terminal it prints one line per finished ensemble.")
    sweep.add_argument("spec", help="a spec file, or the name of one in specs/ (quick, siren2-paper-audio, ...)")
    sweep.add_argument("--out", help="results directory (default runs/<spec name>)")
    add_device(sweep)
    sweep.add_argument("--max-members", type=positive(int),
                       help="members per ensemble (default: the spec's max_members, else on a CPU the size "
                            "measured fastest, at most 16; on CUDA and compiled, every ensemble trains 16, padded, "
                            "since the count changes numbers there)")
    add_compile(sweep)
    add_threads(sweep)
    add_retrain_changed(sweep)
    add_checkpoint(sweep)
    sweep.add_argument("--executor", default="local", choices=["local", "ray"],
                       help="local: train here, on --device (default); ray: each ensemble a Ray task on the "
                            "cluster at --address, or on a local Ray instance (needs pip install -e \".[ray]\")")
    sweep.add_argument("--address", help="ray: address of a running cluster, e.g. auto or ray://HEAD:10001 "
                                         "(default: start a local instance)")
    sweep.add_argument("--gpus-per-job", type=non_negative("GPUs"),
                       help="ray: GPUs per ensemble, fractions allowed (default: the spec's gpus_per_job, else 1 "
                            "when the cluster has GPUs, else 0)")
    add_data_dir(sweep)
    sweep.add_argument("--dry-run", action="store_true", help="print the ensembles that would run, run nothing")
    sweep.add_argument("--max-cells", type=positive(int), default=MAX_CELLS, metavar="N",
                       help=f"refuse a grid of more cells, before planning it (default {MAX_CELLS:,})")
    add_progress(sweep)
    sweep.set_defaults(func=cmd_sweep)


def cmd_sweep(args: argparse.Namespace) -> int:
    import torch

    from bench.core.provenance import resolve_device
    from bench.experiment.executors import make_executor
    from bench.experiment.plan import cell_count
    from bench.experiment.run import load_tasks
    from bench.training.precision import check_available

    library = SignalLibrary(args.data_dir)
    spec = load_spec(spec_path(args.spec), library)
    out = Path(args.out or f"runs/{spec.name}")
    if args.executor == "ray" and args.device != "auto":
        raise UsageError("--device applies to --executor local; on Ray, --gpus-per-job decides (0: CPUs)")
    count = cell_count(spec)
    if count > args.max_cells:
        raise UsageError(f"{spec.name}: {count:,} cells, more than --max-cells {args.max_cells:,}; split the spec into "
                         f"smaller sweeps, or raise --max-cells (planning takes about a minute and a GB per million "
                         f"cells)")
    if count > LARGE_GRID:  # planning takes seconds: say at once what is coming
        print(f"{spec.name}: {count:,} cells in the grid; planning them", file=sys.stderr, flush=True)
    device = resolve_device(args.device) if args.executor == "local" else torch.device("cpu")
    if args.executor == "local":  # on Ray each worker's device decides
        check_available({train.precision for train in spec.trains + (spec.tune.trains if spec.tune else ())}, device)
    threads = cpu_threads(args, device) if args.executor == "local" else ""
    gpus = args.gpus_per_job
    if args.executor == "ray" and gpus is None:
        gpus = spec.gpus_per_job
    executor = make_executor(args.executor, device, args.address, gpus)
    where = (str(device) if args.executor == "local" else f"ray ({args.address or 'local instance'})") + threads
    if spec.tune is not None:
        return _sweep_tuned(spec, out, library, args, device, executor, where)
    if args.dry_run:
        return _dry_run(spec, out, library, args.max_members, retrain_changed=args.retrain_changed)
    tasks = load_tasks(spec, library)  # bad files and options stop here, before the directory is touched
    rows = _train(spec, out, library, args, device, executor, where, tasks)
    return _summary(rows, out)


def _train(spec: Spec, out: Path, library: SignalLibrary, args: argparse.Namespace, device, executor, where: str,
           tasks: dict, cells=None, sweep: bool = True) -> list[dict]:
    """Plan and train the cells of ``spec`` (or ``cells``) not yet in ``out``; the rows written."""
    from bench.experiment.run import plan_sweep, remove_stale_checkpoints, results_lock, run_plan

    with results_lock(out):
        plan = plan_sweep(spec, out, library, args.max_members, keep_spec=sweep, cells=cells,
                          retrain_changed=args.retrain_changed)
        remove_stale_checkpoints(out, plan.progress)
        total, left = len(plan.progress.cells), len(plan.progress.left)
        if not plan.jobs:
            print(f"nothing to run: all {total} cells are already in {out}", file=sys.stderr)
            return []
        measured = plan.tune and device.type == "cpu" and args.compile == "off" and args.executor == "local"
        groups = f"{len(plan.jobs)} groups (ensemble sizes measured on the CPU)" if measured else \
            f"{len(plan.jobs)} ensembles"
        print(f"{spec.name}: {total} cells, {total - left} finished, {left} to run in {groups} on {where} -> {out}",
              file=sys.stderr, flush=True)
        with measuring_share():
            return run_plan(plan, tasks, out, device, progress=not args.no_progress, debug=args.debug,
                            compile=args.compile == "on", executor=executor, checkpoint_every_s=args.checkpoint_every)


def _sweep_tuned(spec: Spec, out: Path, library: SignalLibrary, args: argparse.Namespace, device, executor,
                 where: str) -> int:
    """A spec with [tune]: the tuning split into OUT/tuning, each model's choice from those rows alone into
    OUT/chosen.json, then the test split (defaults and chosen values) into OUT/test (bench.experiment.tuning).
    OUT is held for the whole of it, and keeps one tuned sweep (OUT/spec.toml)."""
    from dataclasses import replace

    from bench.experiment.run import check_tuned, claim_tuned, folder_lock, load_tasks
    from bench.experiment.tuning import TEST_DIR, TUNING_DIR, check_metric, tuning_spec

    tuning, test = tuning_spec(spec), replace(spec, tune=None)
    if args.dry_run:
        check_tuned(out, spec)
        check_metric(spec, load_tasks(tuning, library) | load_tasks(test, library))  # as the run would
        print(f"{spec.name}: the tuning split first (into {out / TUNING_DIR}), then the test split at each model's "
              f"choice and at the defaults (into {out / TEST_DIR})", file=sys.stderr)
        return _dry_run(tuning, out / TUNING_DIR, library, args.max_members, sweep=False,
                        retrain_changed=args.retrain_changed)
    tasks = load_tasks(tuning, library) | load_tasks(test, library)  # every bad file or option stops here
    check_metric(spec, tasks)
    with folder_lock(out):  # a second tuned sweep on OUT stops here, before it changes anything
        claim_tuned(out, spec)
        return _tune_then_test(spec, out, library, args, device, executor, where, tasks)


def _tune_then_test(spec: Spec, out: Path, library: SignalLibrary, args: argparse.Namespace, device, executor,
                    where: str, tasks: dict) -> int:
    """Train the tuning split, choose, then train the test split at the choices (see ``_sweep_tuned``)."""
    from dataclasses import replace

    from bench.experiment.store import read_results
    from bench.experiment.tuning import CHOSEN_FILE, TEST_DIR, TUNING_DIR, choose, test_cells, tuning_spec, write_chosen

    rows = _train(tuning_spec(spec), out / TUNING_DIR, library, args, device, executor, where, tasks, sweep=False)
    failed = [row for row in rows if row["status"] in FAILED]
    if failed:
        return _summary(rows, out / TUNING_DIR)
    choices = choose(spec, read_results(out / TUNING_DIR))
    write_chosen(out, choices)
    for choice in choices:
        print(f"chosen for {choice.model} on {choice.task}: {choice.chosen.label}{_settings(spec, choice)} (mean {choice.metric} "
              f"{choice.score:.2f} on the tuning split)", file=sys.stderr)
    print(f"choices in {out / CHOSEN_FILE}", file=sys.stderr)
    rows += _train(replace(spec, tune=None), out / TEST_DIR, library, args, device, executor, where, tasks,
                   cells=test_cells(spec, choices), sweep=False)
    return _summary(rows, out)


def _settings(spec: Spec, choice) -> str:
    """The tuned training settings of a choice, as ``, lr=0.001``."""
    from bench.experiment.tuning import tuned_settings

    return "".join(f", {key}={getattr(choice.train, key)}" for key in tuned_settings(spec))


def _summary(rows: list[dict], out: Path) -> int:
    """The one line of what ran, and exit 1 when cells failed."""
    if not rows:
        return 0
    counts = {status: sum(row["status"] == status for row in rows) for status in (OK, DIVERGED, OOM, ERROR)}
    print(f"ran {len(rows)} cells: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n) + f"; results in {out}",
          file=sys.stderr)
    failed = [row for row in rows if row["status"] in FAILED]
    if failed:
        raise BenchError(f"{len(failed)} cells failed ({failed[0]['model_spec']} on {failed[0]['signal']}: "
                         f"{failed[0]['error']}); their rows are in {out} with status oom/error")
    return 0


def _dry_run(spec: Spec, out: Path, library: SignalLibrary, max_members: int | None, sweep: bool = True,
             retrain_changed: bool = False) -> int:
    """Print what a sweep would run (the first ensembles of it), writing nothing."""
    from bench.experiment.run import plan_sweep

    plan = plan_sweep(spec, out, library, max_members, keep_spec=sweep, retrain_changed=retrain_changed)
    total, left = len(plan.progress.cells), len(plan.progress.left)
    groups = f"{len(plan.jobs)} groups (sizes measured on the device)" if plan.tune else f"{len(plan.jobs)} ensembles"
    print(f"{spec.name}: {total} cells, {total - left} finished, {left} to run in {groups} -> {out}", file=sys.stderr)
    for job in plan.jobs[:DRY_RUN_LINES]:
        cell = job.cells[0]
        size = f"{cell.layers} x {cell.width}" if cell.param_budget is None else \
            f"{cell.layers} layers, {cell.param_budget:,} params"
        print(f"{cell.task}:{cell.signal} {dict(cell.options) or ''} {size}: "
              + ", ".join(f"{c.model.label}/seed {c.seed}" for c in job.cells))
    if len(plan.jobs) > DRY_RUN_LINES:
        print(f"... and {len(plan.jobs) - DRY_RUN_LINES:,} more ensembles")
    return 0


def add_status(sub) -> None:
    status = sub.add_parser("status", parents=[common()], help="cells done / failed / left of a sweep, with an ETA")
    status.add_argument("results", help="results directory of bench sweep")
    add_data_dir(status)
    status.set_defaults(func=cmd_status)


def cmd_status(args: argparse.Namespace) -> int:
    from bench.experiment.store import has_results, read_results
    from bench.experiment.progress import eta
    from bench.experiment.run import progress_of, stored_spec

    out = Path(args.results)
    from bench.experiment.tuning import CHOSEN_FILE, TEST_DIR, TUNING_DIR

    if (out / TUNING_DIR).is_dir() and not has_results(out):  # a tuned sweep: its two splits
        for split in (TUNING_DIR, TEST_DIR):
            rows = read_results(out / split) if has_results(out / split) else None
            counts = rows["status"].value_counts() if rows is not None else {}
            print(f"{out / split}: {len(rows) if rows is not None else 0} rows"
                  + "".join(f", {n} {s}" for s, n in counts.items()))
        print(f"choices: {out / CHOSEN_FILE}" if (out / CHOSEN_FILE).is_file() else "choices: not made yet")
        return 0
    results = read_results(out) if has_results(out) else None
    _refuse_missing_plugins(out)
    spec = stored_spec(out, SignalLibrary(args.data_dir)) if out.is_dir() else None
    if spec is None:
        if results is None:
            raise BenchError(f"{out} holds no sweep (no _spec.toml) and no results; start one with bench sweep")
        counts = results["status"].value_counts()
        print(f"{out}: {len(results)} rows (no _spec.toml: plain runs): "
              + ", ".join(f"{n} {s}" for s, n in counts.items()))
        return 0
    state = progress_of(spec, out, library=SignalLibrary(args.data_dir))
    statuses = [status for key, status in state.status.items() if key not in state.changed]
    done = {s: statuses.count(s) for s in FINISHED}
    failed = {s: statuses.count(s) for s in FAILED}
    stale = (f", {len(state.changed)} stale (made by other code of {', '.join(sorted(set(state.changed.values())))}"
             f" than now; bench sweep --retrain-changed trains them again)" if state.changed else "")
    line = (f"{spec.name}: {len(state.cells)} cells: {sum(done.values())} done ({done[OK]} ok, "
            f"{done[DIVERGED]} diverged), {sum(failed.values())} failed ({failed[ERROR]} error, "
            f"{failed[OOM]} oom; the next sweep runs them again){stale}, "
            f"{len(state.cells) - len(state.status)} not run yet")
    remaining = eta(results, len(state.left))
    print(line + (f"; {remaining}" if remaining else ""))
    return 0


def _refuse_missing_plugins(out: Path) -> None:
    """A sweep whose spec names models or tasks of a plugin not loaded: say which, and the flag that loads it."""
    from bench.experiment.run import SPEC_FILE
    from bench.experiment.spec import unregistered

    missing = unregistered((out / SPEC_FILE).read_text()) if (out / SPEC_FILE).is_file() else []
    if missing:
        raise UsageError(f"the sweep in {out} names {', '.join(missing)}, which no loaded plugin registers; pass the "
                         f"plugin file it ran with: bench status {out} --plugin FILE")
