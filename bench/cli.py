"""The `bench` command line: parse, call the library, print. Errors become one line and an exit code."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bench.errors import BenchError, UsageError
from bench.models import MemberSpec, load_builtin_models, load_plugin, parse_model
from bench.presets import DEFAULTS, PRESETS
from bench.signals import SYNTHETIC, SignalLibrary
from bench.store import write_rows
from bench.tasks import load_builtin_tasks, load_task
from bench.train import TrainConfig

EPILOG = """examples:
  bench list models
  bench run --model siren2 --task audio:arch --max-samples 65536 --width 64 --layers 4 --steps 200 --seeds 0-3 --out runs/demo
  bench run --model siren --model siren2_filtered:S0=0.05,decay=0.9 --task image:camera --side 128
  bench table runs/demo --metric snr_db --format markdown
"""


def parse_seeds(text: str) -> list[int]:
    """``0-3`` -> [0, 1, 2, 3]; ``0,2,5``; ``1-3,7``."""
    seeds: list[int] = []
    try:
        for part in filter(None, (p.strip() for p in text.split(","))):
            lo, sep, hi = part.partition("-")
            seeds.extend(range(int(lo), int(hi) + 1) if sep else [int(lo)])
    except ValueError:
        raise UsageError(f"--seeds {text!r} is not a list of seeds; write e.g. 0-3 or 0,2,5") from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise UsageError(f"--seeds {text!r} must name distinct non-negative seeds, e.g. 0-3")
    return seeds


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
                        help="import a .py file that registers models or tasks (repeatable)")
    parser = argparse.ArgumentParser(prog="bench", parents=[common], epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     description="Benchmark initialization schemes for implicit neural representations.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    listing = sub.add_parser("list", parents=[common], help="list models, tasks or signals")
    listing.add_argument("what", choices=["models", "tasks", "signals"])
    listing.add_argument("--data-dir", help="directory holding the manifest's files (also: $BENCH_DATA)")
    listing.set_defaults(func=cmd_list)

    run = sub.add_parser("run", parents=[common], help="train models as one batched ensemble and record results",
                         epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("--model", action="append", metavar="NAME[:k=v,...]",
                     help=f"init scheme with optional parameters, repeatable (default: {' '.join(DEFAULTS['models'])})")
    run.add_argument("--task", metavar="TASK:SIGNAL",
                     help="e.g. audio:arch, image:camera, audio:path/to/clip.wav, audio:synthetic:hf_noise "
                          f"(default: {DEFAULTS['task']})")
    run.add_argument("--preset", choices=sorted(PRESETS), help="a paper's training protocol; explicit flags override it")
    run.add_argument("--width", type=_positive(int), help=f"hidden units per layer (default {DEFAULTS['width']})")
    run.add_argument("--layers", type=_positive(int), help=f"hidden layers (default {DEFAULTS['layers']})")
    run.add_argument("--steps", type=_positive(int), help=f"optimizer steps (default {DEFAULTS['steps']})")
    run.add_argument("--lr", type=_positive(float), help=f"Adam learning rate (default {DEFAULTS['lr']})")
    run.add_argument("--lr-step", type=_positive(int), help="StepLR step size in steps (default: no schedule)")
    run.add_argument("--lr-gamma", type=_positive(float), help="StepLR decay factor (default 1.0)")
    run.add_argument("--batch-size", type=_positive(int), help="points per step (default: full batch)")
    run.add_argument("--eval-every", type=_positive(int),
                     help=f"steps between full-signal metrics with minibatches (default {DEFAULTS['eval_every']})")
    run.add_argument("--seeds", help=f"init seeds, e.g. 0-3 or 0,2,5 (default {DEFAULTS['seeds']})")
    run.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N")
    run.add_argument("--out", help=f"results directory (default {DEFAULTS['out']})")
    run.add_argument("--data-dir", help="directory holding the manifest's files (also: $BENCH_DATA)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_task_options(run)
    run.set_defaults(func=cmd_run)

    table = sub.add_parser("table", parents=[common], help="mean ± std over seeds by model and signal")
    table.add_argument("results", help="results directory written by bench run")
    table.add_argument("--metric", help="snr_db or psnr_db (default: every metric present)")
    table.add_argument("--format", default="markdown", choices=["markdown", "csv", "latex"])
    table.set_defaults(func=cmd_table)
    return parser


def _add_task_options(parser: argparse.ArgumentParser) -> None:
    """One flag per task option of every registered task (``max_samples`` -> ``--max-samples``)."""
    seen: dict[str, list[str]] = {}
    for entry in load_builtin_tasks():
        for param in entry.params.values():
            seen.setdefault(param.name, []).append(entry.name)
            if len(seen[param.name]) == 1:
                text = entry.meta.get("help", {}).get(param.name, "")
                parser.add_argument("--" + param.name.replace("_", "-"), dest=f"task_{param.name}", type=param.type,
                                    metavar=param.name.upper(), help=f"{entry.name} tasks: {text}")


def cmd_list(args: argparse.Namespace) -> int:
    if args.what == "models":
        for entry in load_builtin_models():
            print(f"{entry.name:18s} {entry.summary}")
            print(f"{'':18s} params: {entry.describe_params()}")
    elif args.what == "tasks":
        for entry in load_builtin_tasks():
            options = ", ".join("--" + p.replace("_", "-") for p in entry.params) or "none"
            print(f"{entry.name:10s} {entry.summary}  [options: {options}]")
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


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """Flags given, else the preset's values, else the built-in defaults."""
    preset = PRESETS.get(args.preset, {})
    given = {key: getattr(args, key, None) for key in DEFAULTS} | {"models": args.model}
    settings = (DEFAULTS | {k: v for k, v in preset.items() if k in DEFAULTS}
                | {k: v for k, v in given.items() if v is not None})
    if args.preset and settings["task"].partition(":")[0] != preset["task"].partition(":")[0]:
        raise UsageError(f"preset {args.preset} is for {preset['task'].partition(':')[0]} tasks, not {settings['task']}")
    options = {key.removeprefix("task_"): value for key, value in vars(args).items() if key.startswith("task_")}
    for key, value in preset.items():
        if key not in DEFAULTS and options.get(key) is None:
            options[key] = value
    settings["task_options"] = options
    return settings


def cmd_run(args: argparse.Namespace) -> int:
    from bench.provenance import resolve_device
    from bench.run import Architecture, run_members

    s = _settings(args)
    models = [parse_model(text) for text in s["models"]]
    seeds = parse_seeds(s["seeds"])
    device = resolve_device(args.device)
    task = load_task(s["task"], SignalLibrary(args.data_dir), s["task_options"])
    cfg = TrainConfig(steps=s["steps"], lr=s["lr"], lr_step=s["lr_step"], lr_gamma=s["lr_gamma"],
                      batch_size=s["batch_size"], eval_every=s["eval_every"])
    specs = [MemberSpec(model, seed) for model in models for seed in seeds]
    print(f"{task.name}:{task.signal}: {task.size} points, {len(specs)} members, "
          f"{s['layers']} x {s['width']}, {cfg.steps} steps on {device}", file=sys.stderr)
    rows = list(run_members(task, specs, Architecture(s["width"], s["layers"]), cfg, device,
                            progress=not args.no_progress, debug=args.debug))
    path = write_rows(s["out"], rows)
    for row in rows:
        print(_member_line(row, task.metric))
    print(f"wrote {len(rows)} rows to {path}", file=sys.stderr)
    failed = [row for row in rows if row["status"] != "ok"]
    if failed:
        first = failed[0]
        reason = first["error"] or f"non-finite loss at step {first['diverged_step']}; lower --lr or the noise scale"
        raise BenchError(f"{len(failed)} of {len(rows)} members {first['status']} ({first['model_spec']} "
                         f"seed {first['seed']}: {reason}); their rows are in {path} with that status")
    return 0


def _member_line(row: dict[str, Any], metric: str) -> str:
    head = f"{row['model_spec']:28s} seed={row['seed']:<3d}"
    if row["status"] == "error":
        return f"{head} error: {row['error']}"
    status = "ok" if row["status"] == "ok" else f"diverged at step {row['diverged_step']}"
    return (f"{head} {metric}={row[metric]:7.2f}  best={row['best_' + metric]:7.2f} @ {row['best_step']:<6d} "
            f"{row['steps_per_s']:8.1f} steps/s  {status}")


def cmd_table(args: argparse.Namespace) -> int:
    from bench.store import read_results
    from bench.table import METRICS, render, status_counts, summarize

    results = read_results(args.results)
    metrics = [args.metric] if args.metric else [m for m in METRICS if m in results.columns]
    for metric in metrics:
        if len(metrics) > 1:
            print(f"\n{metric}:")
        print(render(summarize(results, metric), args.format))
    counts = status_counts(results)
    if set(counts.index) - {"ok"}:
        print("not in the table: " + ", ".join(f"{n} {s}" for s, n in counts.items() if s != "ok"), file=sys.stderr)
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
        return args.func(args)
    except BenchError as exc:
        if known.debug:
            raise
        print(f"bench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("bench: interrupted; results already written are kept", file=sys.stderr)
        return 130
    except Exception as exc:
        if known.debug:
            raise
        print(f"bench: internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
              file=sys.stderr)
        return 1
