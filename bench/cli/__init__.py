"""The `bench` command line: parse, call the library, print. Errors become one line and an exit code."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from typing import Any

from pathlib import Path

from bench.errors import BenchError, UsageError
from bench.models import PRECISIONS, load_builtin_models, load_plugin, parse_model
from bench.signals import SYNTHETIC, SignalLibrary
from bench.sweep.spec import DEFAULT_LAYERS, DEFAULT_WIDTH, Spec, TaskGrid, load_spec, parse_seeds
from bench.ntk import NtkOptions
from bench.speed.autocompile import COMPILE_MODES
from bench.speed.measure import SPEED_CONFIGS
from bench.tasks import load_builtin_tasks, load_task, parse_task
from bench.training import TrainConfig

SPECS_DIR = Path(__file__).resolve().parents[1] / "specs"

# What `bench run` does with no flags: the three main inits on an offline high-frequency clip
# (training settings: TrainConfig's defaults).
DEFAULTS: dict[str, Any] = {"models": ["siren", "siren2", "winner"], "task": "audio:synthetic:hf_noise",
                            "width": DEFAULT_WIDTH, "layers": DEFAULT_LAYERS, "seeds": "0-1", "out": "runs/default"}
TRAIN_FLAGS = ("steps", "lr", "lr_step", "lr_gamma", "batch_size", "eval_every", "precision")

EPILOG = """examples:
  bench list models
  bench sweep quick --out runs/quick
  bench sweep specs/siren2-paper-audio.toml --executor ray --address auto
  bench status runs/quick
  bench run --model siren2 --task audio:arch --max-samples 65536 --width 64 --layers 4 --steps 200 --seeds 0-3 --out runs/demo
  bench run --model siren --model siren2_filtered:S0=0.05,decay=0.9 --task image:camera --side 128
  bench table runs/demo --metric snr_db --format markdown
  bench bench --members 1,4,16 --compile --roofline
"""


COMPILE_FLAG = dict(default="auto", choices=COMPILE_MODES, metavar="auto|on|off",
                    help="compile the training step with torch.compile: auto (default) where the measured time "
                         "saved exceeds twice the compile time (long runs), on, or off")


def _positive(kind: type):
    def convert(text: str):
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value
    convert.__name__ = f"positive {kind.__name__}"
    return convert


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    common.add_argument("--plugin", action="append", default=[], metavar="FILE",
                        help="run a .py file (its code runs with your rights) that registers models or tasks (repeatable)")
    parser = argparse.ArgumentParser(prog="bench", parents=[common], epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     description="Benchmark initialization schemes for implicit neural representations.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    listing = sub.add_parser("list", parents=[common], help="list models, tasks or signals")
    listing.add_argument("what", choices=["models", "tasks", "signals"])
    listing.add_argument("--data-dir", help="directory holding the manifest's files (also: $BENCH_DATA)")
    listing.add_argument("--width", type=_positive(int), default=DEFAULTS["width"],
                         help=f"models: count parameters at this width (default {DEFAULTS['width']})")
    listing.add_argument("--layers", type=_positive(int), default=DEFAULTS["layers"],
                         help=f"models: ... and this many hidden layers (default {DEFAULTS['layers']})")
    listing.add_argument("--d-in", type=_positive(int), default=1, help="models: input dimension (default 1)")
    listing.add_argument("--d-out", type=_positive(int), default=1, help="models: output dimension (default 1)")
    listing.set_defaults(func=cmd_list)

    members = argparse.ArgumentParser(add_help=False)
    members.add_argument("--model", action="append", metavar="NAME[:k=v,...]",
                         help=f"init scheme with optional parameters, repeatable (default: {' '.join(DEFAULTS['models'])})")
    members.add_argument("--task", metavar="TASK:SIGNAL",
                         help="e.g. audio:arch, image:camera, audio:path/to/clip.wav, audio:synthetic:hf_noise "
                              f"(default: {DEFAULTS['task']})")
    members.add_argument("--width", type=_positive(int), help=f"hidden units per layer (default {DEFAULTS['width']})")
    members.add_argument("--layers", type=_positive(int), help=f"hidden layers (default {DEFAULTS['layers']})")
    members.add_argument("--seeds", help=f"init seeds, e.g. 0-3 or 0,2,5 (default {DEFAULTS['seeds']})")
    members.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N")
    members.add_argument("--data-dir", help="directory holding the manifest's files (also: $BENCH_DATA)")
    _add_task_options(members)

    run = sub.add_parser("run", parents=[common, members],
                         help="models x seeds on one task, as batched ensembles; record results",
                         epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("--preset", choices=_preset_names(),
                     help="take training settings, architecture and task options from specs/PRESET.toml "
                          "(e.g. a paper's protocol); flags you give override them")
    run.add_argument("--steps", type=_positive(int), help=f"optimizer steps (default {TrainConfig.steps})")
    run.add_argument("--lr", type=_positive(float), help=f"Adam learning rate (default {TrainConfig.lr})")
    run.add_argument("--lr-step", type=_positive(int), help="StepLR step size in steps (default: no schedule)")
    run.add_argument("--lr-gamma", type=_positive(float), help="StepLR decay factor (default 1.0)")
    run.add_argument("--batch-size", type=_positive(int), help="points per step (default: full batch)")
    run.add_argument("--eval-every", type=_positive(int),
                     help=f"steps between full-signal metrics with minibatches (default {TrainConfig.eval_every})")
    run.add_argument("--precision", choices=PRECISIONS,
                     help="matmul precision of layers 1.. (layer 0 stays exact float32; default fp32)")
    run.add_argument("--compile", **COMPILE_FLAG)
    run.add_argument("--out", help=f"results directory (default {DEFAULTS['out']})")
    run.add_argument("--max-members", type=_positive(int),
                     help="members per ensemble (default: the size measured fastest on this device, at most 16)")
    run.add_argument("--ntk", metavar="STAGES", help="record NTK spectral summaries as columns at init, final or "
                                                    "init,final (see bench ntk)")
    run.add_argument("--ntk-points", type=_positive(int), default=256, help="points of the NTK (default 256)")
    run.add_argument("--no-progress", action="store_true", help="no progress bars (also off when not a terminal)")
    run.set_defaults(func=cmd_run)

    report = sub.add_parser("report", parents=[common], help="tables, significance and figures of a results directory",
                            description="Write a report of any results directory (bench run or bench sweep, partial "
                                        "or with failed cells) into --out: README.md, table_<metric>.md/.tex/.csv, "
                                        "significance_<metric>.csv/.md against --baseline, PNG/PDF figures, "
                                        "failed.md, environment.json.")
    report.add_argument("results", help="results directory")
    report.add_argument("--out", required=True, help="report directory, e.g. results/<name>")
    report.add_argument("--baseline", default="siren", help="model spec the others are compared with (default siren)")
    report.add_argument("--notes", metavar="FILE.md",
                        help="markdown placed under the report's title (what the results mean, links); kept as is")
    report.set_defaults(func=cmd_report)

    ntk = sub.add_parser("ntk", parents=[common, members], help="empirical NTK spectra and spectral energy at init",
                         description="Empirical NTK of every member (models x seeds) at init on --points consecutive "
                                     "points of the task's grid (images: a central square patch): spectral energy "
                                     "summaries per member, a table of their means, optional plot and Parquet rows.")
    ntk.add_argument("--points", type=_positive(int), default=1024, help="M, points of the NTK (default 1024)")
    ntk.add_argument("--out", help="write one row per member (Parquet) into this directory")
    ntk.add_argument("--plot", help="write the spectra and eigenvalue decay to this image file (.png, .pdf)")
    ntk.add_argument("--format", default="markdown", choices=["markdown", "csv"])
    ntk.set_defaults(func=cmd_ntk)

    diagnose = sub.add_parser("diagnose", parents=[common, members],
                              help="per-layer activation statistics and figure of one member at init",
                              description="Pre- and post-activations of the first --model with the first seed on "
                                          "--points evenly spaced inputs in [-1, 1]: their spread against theory "
                                          "(arcsine law; normal with the predicted variance) and periodograms.")
    diagnose.add_argument("--points", type=_positive(int), default=16384, help="evenly spaced inputs (default 16384)")
    diagnose.add_argument("--plot", help="write the figure to this image file (.png, .pdf)")
    diagnose.add_argument("--format", default="markdown", choices=["markdown", "csv"])
    diagnose.set_defaults(func=cmd_diagnose)

    sweep = sub.add_parser("sweep", parents=[common], help="run a spec's grid as batched ensembles, resumably",
                           description="Run every cell of a sweep spec (models x params x tasks x signals x widths x "
                                       "layers x seeds). Finished cells found in --out are skipped, so rerunning "
                                       "after a crash resumes; one process at a time writes to --out. Diverged "
                                       "members are results; the exit code is 1 only when cells failed (error/oom). "
                                       "Off a terminal it prints one line per finished ensemble.")
    sweep.add_argument("spec", help="a spec file, or the name of one in specs/ (quick, siren2-paper-audio, ...)")
    sweep.add_argument("--out", help="results directory (default runs/<spec name>)")
    sweep.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N")
    sweep.add_argument("--max-members", type=_positive(int),
                       help="members per ensemble (default: the spec's max_members, else the size measured "
                            "fastest on this device, at most 16)")
    sweep.add_argument("--compile", **COMPILE_FLAG)
    sweep.add_argument("--executor", default="local", choices=["local", "ray"],
                       help="local: train here, on --device (default); ray: each ensemble a Ray task on the "
                            "cluster at --address, or on a local Ray instance (needs pip install -e \".[ray]\")")
    sweep.add_argument("--address", help="ray: address of a running cluster, e.g. auto or ray://HEAD:10001 "
                                         "(default: start a local instance)")
    sweep.add_argument("--gpus-per-job", type=float,
                       help="ray: GPUs per ensemble, fractions allowed (default: the spec's gpus_per_job, else 1 "
                            "when the cluster has GPUs, else 0)")
    sweep.add_argument("--data-dir", help="directory holding the manifest's files (also: $BENCH_DATA)")
    sweep.add_argument("--dry-run", action="store_true", help="print the ensembles that would run, run nothing")
    sweep.add_argument("--no-progress", action="store_true", help="no progress bars (also off when not a terminal)")
    sweep.set_defaults(func=cmd_sweep)

    speed = sub.add_parser("bench", parents=[common], help="training throughput of ensembles of 1, 4, 16 members",
                           description="Time short trainings of one model on a problem (--config, or --task with "
                                       "--width/--layers) for each ensemble size and precision: steps/s, "
                                       "member-steps/s, samples/s, achieved GFLOP/s (matmul FLOPs counted from the "
                                       "layer shapes), peak memory (CUDA: tensors; CPU: the process's resident "
                                       "peak) and the final metric. benchmarks/ compares this with a plain loop.")
    speed.add_argument("--config", choices=sorted(SPEED_CONFIGS),
                       help="audio: arch, 150,000 samples, 4 x 222; image: camera 256^2, 3 x 256; *-cpu: 16,384 "
                            "(4k: 4,096) samples, 4 x 64 and 64^2, 3 x 64 (default: audio on CUDA, audio-cpu "
                            "on the CPU)")
    speed.add_argument("--task", metavar="TASK:SIGNAL", help="instead of --config's task")
    speed.add_argument("--width", type=_positive(int), help="instead of --config's width")
    speed.add_argument("--layers", type=_positive(int), help="instead of --config's layers")
    speed.add_argument("--model", default="siren", metavar="NAME[:k=v,...]", help="init scheme (default siren)")
    speed.add_argument("--members", default="1,4,16", help="ensemble sizes, comma-separated (default 1,4,16)")
    speed.add_argument("--steps", type=_positive(int), default=50,
                       help="steps per measurement; the first tenth (at most 10) warm up untimed (default 50)")
    speed.add_argument("--lr", type=_positive(float), default=TrainConfig.lr, help=f"(default {TrainConfig.lr})")
    speed.add_argument("--precision", default="fp32", help="comma-separated: fp32, tf32, bf16 (default fp32)")
    speed.add_argument("--compile", action="store_true", help="also time the step compiled with torch.compile")
    speed.add_argument("--roofline", action="store_true",
                       help="measure the device's matmul rate and bandwidth and add each step's floor (floor_ms)")
    speed.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N")
    speed.add_argument("--data-dir", help="directory holding the manifest's files (also: $BENCH_DATA)")
    speed.add_argument("--format", default="markdown", choices=["markdown", "csv"])
    _add_task_options(speed)
    speed.set_defaults(func=cmd_bench)

    status = sub.add_parser("status", parents=[common], help="cells done / failed / left of a sweep, with an ETA")
    status.add_argument("results", help="results directory of bench sweep")
    status.add_argument("--data-dir", help="directory holding the manifest's files (also: $BENCH_DATA)")
    status.set_defaults(func=cmd_status)

    table = sub.add_parser("table", parents=[common], help="mean ± std over seeds by model and signal")
    table.add_argument("results", help="results directory written by bench run")
    table.add_argument("--metric", help="snr_db or psnr_db (default: every metric present)")
    table.add_argument("--format", default="markdown", choices=["markdown", "csv", "latex"])
    table.set_defaults(func=cmd_table)
    return parser


def _preset_names() -> list[str]:
    return sorted(path.stem for path in SPECS_DIR.glob("*.toml"))


def _add_task_options(parser: argparse.ArgumentParser) -> None:
    """One flag per option of the registered tasks (``max_samples`` -> ``--max-samples``), once for all
    the tasks that share it."""
    options: dict[str, tuple[Any, list[str], str]] = {}
    for entry in load_builtin_tasks():
        for param in entry.params.values():
            kind, tasks, text = options.get(param.name, (param.type, [], ""))
            options[param.name] = (kind, tasks + [entry.name], text or entry.meta["help"].get(param.name, ""))
    for name, (kind, tasks, text) in options.items():
        parser.add_argument("--" + name.replace("_", "-"), dest=f"task_{name}", type=kind, metavar=name.upper(),
                            help=f"{text} [{', '.join(tasks)}]")


def cmd_list(args: argparse.Namespace) -> int:
    if args.what == "models":
        from bench.models import Architecture, MemberSpec, ModelChoice, SignalInfo, build_ensemble

        arch = Architecture(args.d_in, args.width, args.layers, args.d_out)
        signal = SignalInfo("audio" if args.d_in == 1 else "image", args.d_in, args.d_out, centroid=0.5)
        print(f"parameters for d_in={args.d_in}, d_out={args.d_out}, {args.layers} x {args.width}:")
        for entry in load_builtin_models():
            model, _ = build_ensemble([MemberSpec(ModelChoice(entry, {}), 0)], arch, signal)
            print(f"{entry.name:18s} {entry.summary}")
            print(f"{'':18s} {model.member_parameters():,} parameters; params: {entry.describe_params()}")
    elif args.what == "tasks":
        for entry in load_builtin_tasks():
            options = ", ".join("--" + p.replace("_", "-") for p in entry.params) or "none"
            print(f"{entry.name:14s} {entry.summary}  [options: {options}]")
    else:
        library = SignalLibrary(args.data_dir)
        for entry in library.entries.values():
            where = library.local_path(entry)
            status = f"local: {where}" if where else "not local (downloaded on first use)"
            details = ", ".join(f"{k}={v}" for k, v in entry.details.items())
            print(f"{entry.name:18s} {entry.kind:6s} {details}  [{status}]")
        for name in SYNTHETIC:
            print(f"{'synthetic:' + name:18s} both   generated in code (seed 0)  [always available]")
    return 0


def _task_options(args: argparse.Namespace) -> dict[str, Any]:
    """The task-option flags the user gave (``--max-samples 4096`` -> {"max_samples": 4096})."""
    return {key.removeprefix("task_"): value for key, value in vars(args).items()
            if key.startswith("task_") and value is not None}


def _preset(name: str | None, library: SignalLibrary) -> Spec | None:
    if name is None:
        return None
    preset = load_spec(SPECS_DIR / f"{name}.toml", library)
    if len(preset.widths) > 1 or len(preset.layers) > 1:
        raise UsageError(f"spec {name} sweeps widths or layers and cannot be a --preset; run it with bench sweep")
    return preset


def _run_spec(args: argparse.Namespace, library: SignalLibrary) -> Spec:
    """The one-task spec `bench run` means: flags given, else the preset's values, else the defaults."""
    preset = _preset(args.preset, library)
    task = args.task or (f"{preset.tasks[0].task}:{preset.tasks[0].signals[0]}" if preset else DEFAULTS["task"])
    entry, ref = parse_task(task)
    name = entry.name
    options = {}
    if preset:
        grid = next((g for g in preset.tasks if g.task == name), None)
        if grid is None:
            raise UsageError(f"preset {args.preset} has no {name} task (it has: "
                             f"{', '.join(g.task for g in preset.tasks)}); choose a matching --task")
        options = {key: values[0] for key, values in grid.options}
    options |= _task_options(args)
    train = preset.train if preset else TrainConfig()
    train = replace(train, **{key: getattr(args, key) for key in TRAIN_FLAGS if getattr(args, key) is not None})
    return Spec(
        name="run",
        models=tuple(parse_model(text) for text in args.model or DEFAULTS["models"]),
        tasks=(TaskGrid(name, (ref,), tuple((key, (value,)) for key, value in options.items()),
                        (library.fingerprint(ref, entry.meta["domain"]),)),),
        widths=(args.width or (preset.widths[0] if preset else DEFAULTS["width"]),),
        layers=(args.layers or (preset.layers[0] if preset else DEFAULTS["layers"]),),
        seeds=tuple(parse_seeds(args.seeds or DEFAULTS["seeds"])),
        train=train, max_members=None, text="",
        ntk=NtkOptions(tuple(args.ntk.split(",")), args.ntk_points) if args.ntk else None)


def cmd_run(args: argparse.Namespace) -> int:
    from bench.provenance import resolve_device
    from bench.sweep.run import load_tasks, plan_sweep, results_lock, run_plan

    library = SignalLibrary(args.data_dir)
    spec = _run_spec(args, library)
    device = resolve_device(args.device)
    out = Path(args.out or DEFAULTS["out"])
    tasks = load_tasks(spec, library)  # bad files and options stop here, before the directory is touched
    with results_lock(out):
        plan = plan_sweep(spec, out, library, args.max_members, keep_spec=False)
        finished = len(plan.progress.cells) - len(plan.progress.left)
        if not plan.jobs:
            print(f"nothing to run: all {finished} members are already in {out} (same settings and seeds)",
                  file=sys.stderr)
            return 0
        grid = spec.tasks[0]
        groups = f"{len(plan.jobs)} group(s) of the fastest ensemble size" if plan.tune else \
            f"{len(plan.jobs)} ensemble(s)"
        print(f"{grid.task}:{grid.signals[0]}: {len(plan.progress.left)} members in {groups}"
              + (f" ({finished} already in {out})" if finished else "")
              + f", {spec.layers[0]} x {spec.widths[0]}, {spec.train.steps} steps on {device}", file=sys.stderr)
        rows = run_plan(plan, tasks, out, device, progress=not args.no_progress, debug=args.debug,
                        compile=args.compile)
    for row in rows:
        print(_member_line(row))
    print(f"wrote {len(rows)} rows to {out}", file=sys.stderr)
    failed = [row for row in rows if row["status"] != "ok"]
    if failed:
        first = failed[0]
        reason = first["error"] or f"non-finite loss at step {first['diverged_step']}; lower --lr or the noise scale"
        raise BenchError(f"{len(failed)} of {len(rows)} members {first['status']} ({first['model_spec']} "
                         f"seed {first['seed']}: {reason}); their rows are in {out} with that status")
    return 0


DRY_RUN_LINES = 40  # ensembles listed by --dry-run before "... and N more"
LARGE_GRID = 10_000  # cells from which bench sweep announces the count before planning


def cmd_sweep(args: argparse.Namespace) -> int:
    import torch

    from bench.provenance import resolve_device
    from bench.sweep.executors import make_executor
    from bench.sweep.plan import cell_count
    from bench.sweep.run import load_tasks, plan_sweep, results_lock, run_plan

    library = SignalLibrary(args.data_dir)
    path = Path(args.spec)
    if not path.suffix and not path.exists():  # a preset name such as `quick`
        path = SPECS_DIR / f"{args.spec}.toml"
    spec = load_spec(path, library)
    out = Path(args.out or f"runs/{spec.name}")
    if args.executor == "ray" and args.device != "auto":
        raise UsageError("--device applies to --executor local; on Ray, --gpus-per-job decides (0: CPUs)")
    count = cell_count(spec)
    if count > LARGE_GRID:  # planning takes seconds: say at once what is coming
        print(f"{spec.name}: {count:,} cells in the grid; planning them", file=sys.stderr, flush=True)
    device = resolve_device(args.device) if args.executor == "local" else torch.device("cpu")
    gpus = args.gpus_per_job
    if args.executor == "ray" and gpus is None:
        gpus = spec.gpus_per_job
    executor = make_executor(args.executor, device, args.address, gpus)
    if args.dry_run:
        return _dry_run(spec, out, library, args.max_members)
    tasks = load_tasks(spec, library)  # bad files and options stop here, before the directory is touched
    with results_lock(out):
        plan = plan_sweep(spec, out, library, args.max_members)
        total, left = len(plan.progress.cells), len(plan.progress.left)
        if not plan.jobs:
            print(f"nothing to run: all {total} cells are already in {out}", file=sys.stderr)
            return 0
        where = device if args.executor == "local" else f"ray ({args.address or 'local instance'})"
        groups = f"{len(plan.jobs)} groups (ensemble sizes measured on the device)" if plan.tune else \
            f"{len(plan.jobs)} ensembles"
        print(f"{spec.name}: {total} cells, {total - left} finished, {left} to run in {groups} on {where} -> {out}",
              file=sys.stderr, flush=True)
        rows = run_plan(plan, tasks, out, device, progress=not args.no_progress, debug=args.debug,
                        compile=args.compile, executor=executor)
    counts = {status: sum(row["status"] == status for row in rows) for status in ("ok", "diverged", "oom", "error")}
    print(f"ran {len(rows)} cells: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n) + f"; results in {out}",
          file=sys.stderr)
    failed = [row for row in rows if row["status"] in ("oom", "error")]
    if failed:
        raise BenchError(f"{len(failed)} cells failed ({failed[0]['model_spec']} on {failed[0]['signal']}: "
                         f"{failed[0]['error']}); their rows are in {out} with status oom/error")
    return 0


def _dry_run(spec: Spec, out: Path, library: SignalLibrary, max_members: int | None) -> int:
    """Print what a sweep would run (the first ensembles of it), writing nothing."""
    from bench.sweep.run import plan_sweep

    plan = plan_sweep(spec, out, library, max_members)
    total, left = len(plan.progress.cells), len(plan.progress.left)
    groups = f"{len(plan.jobs)} groups (sizes measured on the device)" if plan.tune else f"{len(plan.jobs)} ensembles"
    print(f"{spec.name}: {total} cells, {total - left} finished, {left} to run in {groups} -> {out}", file=sys.stderr)
    for job in plan.jobs[:DRY_RUN_LINES]:
        cell = job.cells[0]
        print(f"{cell.task}:{cell.signal} {dict(cell.options) or ''} {cell.layers} x {cell.width}: "
              + ", ".join(f"{c.model.label}/seed {c.seed}" for c in job.cells))
    if len(plan.jobs) > DRY_RUN_LINES:
        print(f"... and {len(plan.jobs) - DRY_RUN_LINES:,} more ensembles")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from bench.store import read_results
    from bench.sweep.progress import duration
    from bench.sweep.run import progress_of, stored_spec

    out = Path(args.results)
    results = read_results(out) if any(out.rglob("*.parquet")) else None
    spec = stored_spec(out, SignalLibrary(args.data_dir)) if out.is_dir() else None
    if spec is None:
        if results is None:
            raise BenchError(f"{out} holds no sweep (no _spec.toml) and no results; start one with bench sweep")
        counts = results["status"].value_counts()
        print(f"{out}: {len(results)} rows (no _spec.toml: plain runs): "
              + ", ".join(f"{n} {s}" for s, n in counts.items()))
        return 0
    state = progress_of(spec, out)
    statuses = list(state.status.values())
    done = {s: statuses.count(s) for s in ("ok", "diverged")}
    failed = {s: statuses.count(s) for s in ("error", "oom")}
    line = (f"{spec.name}: {len(state.cells)} cells: {sum(done.values())} done ({done['ok']} ok, "
            f"{done['diverged']} diverged), {sum(failed.values())} failed ({failed['error']} error, "
            f"{failed['oom']} oom; the next sweep runs them again), "
            f"{len(state.cells) - len(statuses)} not run yet")
    if state.left and results is not None and "seconds" in results:
        timed = results[results["seconds"].notna()]
        per_cell = (timed["seconds"] / timed["ensemble_size"]).mean()
        line += f"; ETA {duration(per_cell * len(state.left))} at {per_cell:.1f} s per cell so far"
    print(line)
    return 0


def _members_and_task(args: argparse.Namespace, feature: str):
    """The task and the un-trained ensemble (models x seeds) that `bench ntk` / `bench diagnose` inspect
    (``feature``: "ntk" or "diagnose", which the models must support)."""
    from bench.models import Architecture, MemberSpec, build_ensemble, unsupported
    from bench.provenance import resolve_device

    device = resolve_device(args.device)
    task = load_task(args.task or DEFAULTS["task"], SignalLibrary(args.data_dir), _task_options(args)).to(device)
    specs = [MemberSpec(parse_model(text), seed) for text in args.model or DEFAULTS["models"]
             for seed in parse_seeds(args.seeds or DEFAULTS["seeds"])]
    arch = Architecture.of(task.info, args.width or DEFAULTS["width"], args.layers or DEFAULTS["layers"])
    reason = unsupported([spec.model for spec in specs], arch, feature)
    if reason:
        raise UsageError(f"{reason}; " + ("drop that model" if feature == "ntk" else "use an audio task (the default)"))
    model, _ = build_ensemble(specs, arch, task.info)
    return task, specs, model.to(device), device


def cmd_ntk(args: argparse.Namespace) -> int:
    import pandas as pd

    from bench.ntk import ntk_matrix, ntk_points, plot_spectra, spectra
    from bench.provenance import provenance
    from bench.store import write_rows

    task, specs, model, device = _members_and_task(args, "ntk")
    coords, shape = ntk_points(task, args.points)
    members = spectra(ntk_matrix(model, coords), shape)
    rows = [{"model": spec.model.entry.name, "model_spec": spec.model.label, "seed": spec.seed, "task": task.name,
             "signal": task.signal, "width": model.weights[1].shape[1], "layers": len(model.weights) - 1,
             "points": args.points} | task.meta | provenance(device)
            | {f"ntk_init_{k}": v for k, v in member.summary(task.info.centroid).items()}
            for spec, member in zip(specs, members)]
    table = pd.DataFrame(rows).groupby("model_spec", sort=False)[[c for c in rows[0] if c.startswith("ntk_")]].mean()
    table.columns = [c.removeprefix("ntk_init_") for c in table.columns]
    print(table.to_markdown(floatfmt=".4g") if args.format == "markdown" else table.to_csv())
    if args.out:
        print(f"wrote {len(rows)} rows to {write_rows(args.out, rows)}", file=sys.stderr)
    if args.plot:
        curves: dict[str, list] = {}
        for spec, member in zip(specs, members):
            curves.setdefault(spec.model.label, []).append(member)
        plot_spectra(curves, args.plot, centroid=task.info.centroid)
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


def cmd_diagnose(args: argparse.Namespace) -> int:
    import torch

    from bench.diagnostics import layer_activations, layer_table, plot_activations

    task, specs, model, device = _members_and_task(args, "diagnose")
    coords = torch.linspace(-1, 1, args.points, device=device)[:, None]
    layers = layer_activations(model, coords, member=0)
    table = layer_table(layers)
    print(table.to_markdown(index=False, floatfmt=".4g") if args.format == "markdown" else table.to_csv(index=False))
    if args.plot:
        plot_activations(layers, args.plot, title=f"{specs[0].model.label}, seed {specs[0].seed}, "
                                                  f"{len(layers)} x {model.weights[1].shape[1]}")
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    import pandas as pd

    from bench.provenance import provenance, resolve_device
    from bench.speed.measure import measure
    from bench.speed.roofline import measure_rates

    device = resolve_device(args.device)
    config = SPEED_CONFIGS[args.config or ("audio" if device.type == "cuda" else "audio-cpu")]
    options = (config.options if args.task is None else {}) | _task_options(args)
    task = load_task(args.task or config.task, SignalLibrary(args.data_dir), options).to(device)
    model = parse_model(args.model)
    width, layers = args.width or config.width, args.layers or config.layers
    members = parse_seeds(args.members)  # the same syntax: 1,4,16 or 1-4
    if min(members) < 1:
        raise UsageError(f"--members {args.members}: ensemble sizes must be >= 1, e.g. 1,4,16")
    print(f"{task.name}:{task.signal} ({task.size:,} points), {model.label}, {layers} x {width}, {args.steps} steps "
          f"on {provenance(device)['device_name']}", file=sys.stderr, flush=True)
    rates = measure_rates(device) if args.roofline else None
    if rates:
        print(f"measured: matmul {rates.matmul_flop_per_s / 1e9:.1f} GFLOP/s, copy {rates.bytes_per_s / 1e9:.1f} GB/s",
              file=sys.stderr, flush=True)
    configs = [TrainConfig(steps=args.steps, lr=args.lr, precision=p.strip()) for p in args.precision.split(",")]
    rows = []
    for cfg in configs:
        for compile in (False, True) if args.compile else (False,):
            for k in members:
                result = measure(task, model, width, layers, k, cfg, compile=compile, rates=rates)
                rows.append({"precision": cfg.precision} | asdict(result))
    table = pd.DataFrame(rows).rename(columns={"metric": task.metric})
    print(table.to_markdown(index=False, floatfmt=".4g") if args.format == "markdown" else table.to_csv(index=False))
    return 0


def _member_line(row: dict[str, Any]) -> str:
    head = f"{row['model_spec']:28s} seed={row['seed']:<3d}"
    metric = "snr_db" if "snr_db" in row else "psnr_db"
    if row["status"] in ("error", "oom"):
        return f"{head} {row['status']}: {row['error']}"
    status = "ok" if row["status"] == "ok" else f"diverged at step {row['diverged_step']}"
    return (f"{head} {metric}={row[metric]:7.2f}  best={row['best_' + metric]:7.2f} @ {row['best_step']:<6d} "
            f"{row['steps_per_s']:8.1f} steps/s  {status}")


def cmd_report(args: argparse.Namespace) -> int:
    from bench.report import write_report
    from bench.store import read_results

    command = f"bench report {args.results} --out {args.out}" + (
        f" --baseline {args.baseline}" if args.baseline != "siren" else "") + (
        f" --notes {args.notes}" if args.notes else "")
    notes = None
    if args.notes:
        if not Path(args.notes).is_file():
            raise UsageError(f"notes file not found: {args.notes}; pass a markdown file")
        notes = Path(args.notes).read_text()
    readme = write_report(read_results(args.results), Path(args.results), Path(args.out), args.baseline, command,
                          notes)
    print(f"wrote {readme.parent} (open {readme})", file=sys.stderr)
    return 0


def cmd_table(args: argparse.Namespace) -> int:
    from bench.report import METRICS, cell_table, metric_rows, render_table
    from bench.store import read_results

    results = read_results(args.results)
    present = [m for m in METRICS if m in results.columns]
    metrics = [args.metric] if args.metric else [m for m in present if not metric_rows(results, m).empty] or present
    for metric in metrics:
        rows = metric_rows(results, metric)
        if rows.empty:
            counts = ", ".join(f"{n} {s}" for s, n in results["status"].value_counts().sort_index().items())
            raise BenchError(f"no member in {args.results} finished ok with a {metric} value ({counts}); "
                             f"nothing to tabulate (their error and diverged_step columns say why)")
        if len(metrics) > 1:
            print(f"\n{metric}:")
        cells = cell_table(rows, metric)
        print(render_table(cells, args.format))
        seeds = sorted(cells["count"][cells["signal"] != "mean over signals"].unique().tolist())
        print(f"{metric}: mean ± std over seeds (seeds per cell: {', '.join(map(str, seeds))})", file=sys.stderr)
    left_out = results["status"].value_counts().drop("ok", errors="ignore").sort_index()
    if len(left_out):
        print("not in the table: " + ", ".join(f"{n} {s}" for s, n in left_out.items()), file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--plugin", action="append", default=[])
    early.add_argument("--debug", action="store_true")
    known, _ = early.parse_known_args(argv)
    try:
        for plugin in known.plugin:  # before the parser is built, so plugin tasks get their flags
            load_plugin(plugin)
        args = build_parser().parse_args(argv)
        args.debug = known.debug  # --debug before or after the command (a subcommand's default would mask it)
        return args.func(args)
    except BenchError as exc:
        if known.debug:
            raise
        print(f"bench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # output piped into a reader that stopped early (e.g. `| head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted; results already written are kept", file=sys.stderr)
        return 130
    except Exception as exc:
        if known.debug:
            raise
        print(f"bench: internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
              file=sys.stderr)
        return 1
