"""`bench sweep` (a spec's grid, resumably; --dry-run), `bench status` (how far a sweep has come) and `bench
reconstruct` (what its members fitted, kept to look at)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from bench.cli.options import (add_checkpoint, add_compile, add_data_dir, add_device, add_progress, add_retrain_changed,
                               add_threads, common, context_of, non_negative, positive, say_measuring)
from bench.core.errors import BenchError, UsageError

DRY_RUN_LINES = 40  # ensembles listed by --dry-run before "... and N more"
LARGE_GRID = 10_000  # cells from which bench sweep announces the count before planning
MAX_CELLS = 1_000_000  # cells bench sweep plans unless --max-cells says more


def add_sweep(sub) -> None:
    sub.add_parser("sweep", parents=[common()], help="run a spec's grid as batched ensembles, resumably",
                   description="Run every cell of a sweep spec (models x params x tasks x signals x widths x layers x "
                               "seeds). Finished cells found in --out are skipped, so rerunning after a crash resumes; "
                               "one process at a time writes to --out. Diverged members are results; the exit code is "
                               "1 only when cells failed (error/oom). Off a terminal it prints one line per finished "
                               "ensemble.", build=_sweep_arguments)


def _sweep_arguments(sweep: argparse.ArgumentParser) -> None:
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
    from bench import api
    from bench.experiment.executors import make_executor
    from bench.experiment.plan import cell_count

    if args.executor == "ray" and args.device != "auto":
        raise UsageError("--device applies to --executor local; on Ray, --gpus-per-job decides (0: CPUs)")
    context = context_of(args, device="cpu" if args.executor == "ray" else None)
    spec = api.load(args.spec, context.library)
    count = cell_count(spec)
    if count > args.max_cells:
        raise UsageError(f"{spec.name}: {count:,} cells, more than --max-cells {args.max_cells:,}; split the spec into "
                         f"smaller sweeps, or raise --max-cells (planning takes about a minute and a GB per million "
                         f"cells)")
    if count > LARGE_GRID:  # planning takes seconds: say at once what is coming
        print(f"{spec.name}: {count:,} cells in the grid; planning them", file=sys.stderr, flush=True)
    gpus = spec.gpus_per_job if args.executor == "ray" and args.gpus_per_job is None else args.gpus_per_job
    context = replace(context, executor=make_executor(args.executor, context.device, args.address, gpus))
    out = Path(args.out or f"runs/{spec.name}")
    if args.dry_run:
        from bench.experiment.tuning import TUNING_DIR

        return _dry_run(api.dry_run(spec, out, context), out / TUNING_DIR if spec.tune else out)
    outcome = api.sweep(spec, out, context)
    say_measuring(outcome)
    return _summary(outcome.rows, out)


def _summary(rows: list[dict], out: Path) -> int:
    """The one line of what ran, and exit 1 when cells failed."""
    from bench.core.status import DIVERGED, ERROR, FAILED, OK, OOM

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


def _dry_run(plan, out: Path) -> int:
    """Print what a sweep would run into ``out`` (the first ensembles of its plan)."""
    total, left = len(plan.state.cells), len(plan.state.left)
    groups = f"{len(plan.jobs)} groups (sizes measured on the device)" if plan.measure_sizes else \
        f"{len(plan.jobs)} ensembles"
    print(f"{plan.spec.name}: {total} cells, {total - left} finished, {left} to run in {groups} -> {out}", file=sys.stderr)
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
    sub.add_parser("status", parents=[common()], help="cells done / failed / left of a sweep, with an ETA",
                   build=_status_arguments)


def _status_arguments(status: argparse.ArgumentParser) -> None:
    status.add_argument("results", help="results directory of bench sweep")
    add_data_dir(status)
    status.set_defaults(func=cmd_status)


def cmd_status(args: argparse.Namespace) -> int:
    from bench import api
    from bench.signals.library import SignalLibrary

    _refuse_missing_plugins(Path(args.results))
    for line in api.status(args.results, SignalLibrary(args.data_dir)):
        print(line)
    return 0


def _refuse_missing_plugins(out: Path) -> None:
    """A sweep whose spec names models or tasks of a plugin not loaded: say which, and the flag that loads it."""
    from bench.experiment.run import SPEC_FILE
    from bench.experiment.spec import unregistered

    missing = unregistered((out / SPEC_FILE).read_text()) if (out / SPEC_FILE).is_file() else []
    if missing:
        raise UsageError(f"the sweep in {out} names {', '.join(missing)}, which no loaded plugin registers; pass the "
                         f"plugin file it ran with: bench status {out} --plugin FILE")


def add_reconstruct(sub) -> None:
    sub.add_parser("reconstruct", parents=[common()], help="keep what a sweep's members fitted, for its report",
                   description="For each setting of a sweep (a cell but its seed) whose signal is a clip or an image, "
                               "train the member at the median seed (by the task's table metric) again from its cell "
                               "and keep its output over the whole signal in RESULTS/_artifacts/<cell_key>.npz. A "
                               "result depends on its cell alone, so the rerun fits what its row measured: each line "
                               "prints both metrics (rows made on another device kind or torch, or at another thread "
                               "count where that matters, may differ). Members kept for their rows as they stand are skipped. bench "
                               "report then shows the fits beside the target, with error maps, spectrograms and WAV "
                               "files.", build=_reconstruct_arguments)


def _reconstruct_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", help="results directory of bench sweep (it keeps the sweep's spec)")
    add_device(parser)
    add_threads(parser)
    add_data_dir(parser)
    parser.set_defaults(func=cmd_reconstruct)


def cmd_reconstruct(args: argparse.Namespace) -> int:
    from bench import api
    from bench.core.artifacts import ARTIFACTS_DIR

    folder = Path(args.results)
    if not folder.is_dir():
        raise UsageError(f"results directory not found: {folder}; pass the folder bench sweep wrote")
    _refuse_missing_plugins(folder)
    kept = api.reconstruct(folder, context_of(args))
    largest = max((abs(k.difference) for k in kept), default=0.0)
    print(f"kept {len(kept)} reconstructions in {folder / ARTIFACTS_DIR} (largest difference to a row: {largest:.3g}); "
          f"bench report {folder} --out REPORT draws them", file=sys.stderr)
    return 0
