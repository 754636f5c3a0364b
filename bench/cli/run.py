"""`bench run`: models x seeds on one task, as batched ensembles, into a results directory."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from bench.cli.options import (EPILOG, add_checkpoint, add_compile, add_members, add_progress, add_retrain_changed,
                               add_threads, common, context_of, positive, say_measuring, task_options)
from bench.core.errors import BenchError, UsageError
from bench.core.status import FAILED, OK

def setting(name: str):
    """An argparse type checking a training setting by its declared type and domain (``TRAIN_PARAMS``), as a
    spec's [train] values are checked: one value, or several separated by commas (a grid axis, as a list
    is in a spec), returned as a list."""
    from bench.training.config import TRAIN_PARAMS

    param = TRAIN_PARAMS[name]

    def convert(text: str) -> list:
        values = []
        for part in text.split(","):
            try:
                values.append(param.parse(part.strip()))
            except ValueError as exc:
                raise argparse.ArgumentTypeError(param.reject(part.strip(), exc)) from None
        return list(dict.fromkeys(values))
    return convert


def add_training_settings(parser: argparse.ArgumentParser) -> None:
    """One flag per declared training setting (``bench.training.config``), each taking comma-separated values
    to sweep."""
    from bench.core.registry import OneOf
    from bench.training.config import SETTINGS, TRAIN_PARAMS

    group = parser.add_argument_group("training settings (a comma-separated list of values sweeps one)")
    for name, declaration in SETTINGS.items():
        param = TRAIN_PARAMS[name]
        choices = f"; one of {', '.join(param.bound.choices)}" if isinstance(param.bound, OneOf) else ""
        default = "none" if param.default is None else param.default
        group.add_argument("--" + name.replace("_", "-"), type=setting(name), metavar=name.upper(),
                           help=f"{declaration['help']}{choices}; default {default}")


def add_run(sub) -> None:
    sub.add_parser("run", parents=[common()], help="models x seeds on one task, as batched ensembles; record results",
                   epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter, build=_run_arguments)


def _run_arguments(run: argparse.ArgumentParser) -> None:
    from bench.experiment.presets import DEFAULTS, preset_names

    add_members(run)
    run.add_argument("--preset", choices=preset_names(),
                     help="take training settings, architecture and task options from specs/PRESET.toml "
                          "(e.g. a paper's protocol); flags you give override them")
    add_training_settings(run)
    run.add_argument("--params", type=positive(int), metavar="N",
                     help="instead of --width: each model gets the width whose trainable parameter count is nearest N")
    add_compile(run)
    add_threads(run)
    add_retrain_changed(run)
    add_checkpoint(run)
    run.add_argument("--out", help=f"results directory (default {DEFAULTS['out']})")
    run.add_argument("--max-members", type=positive(int),
                     help="members per ensemble (default: on a CPU the size measured fastest, at most 16; on CUDA "
                          "and compiled, every ensemble trains 16, padded, since the count changes numbers there)")
    run.add_argument("--ntk", metavar="STAGES", help="record NTK spectral summaries as columns at init, final or "
                                                    "init,final (see bench ntk)")
    run.add_argument("--ntk-points", type=positive(int), default=256, help="points of the NTK (default 256)")
    add_progress(run)
    run.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from bench import api
    from bench.experiment.presets import DEFAULTS, run_spec
    from bench.training.config import SETTINGS

    context = context_of(args)
    if args.width and args.params:
        raise UsageError("give --width or --params (a parameter budget), not both")
    spec = run_spec(context.library, args.model, args.task, args.width, args.layers, args.seeds, params=args.params,
                    train={key: getattr(args, key) for key in SETTINGS if getattr(args, key) is not None},
                    preset=args.preset, task_options=task_options(args),
                    ntk=tuple(args.ntk.split(",")) if args.ntk else None, ntk_points=args.ntk_points)
    out = Path(args.out or DEFAULTS["out"])
    outcome = api.run(spec, out, context)
    say_measuring(outcome)
    rows = outcome.rows
    if not rows:
        return 0
    varied = [key for key in SETTINGS if len({getattr(train, key) for train in spec.trains}) > 1]
    for row in rows:
        print(_member_line(row, varied))
    print(f"wrote {len(rows)} rows to {out}", file=sys.stderr)
    failed = [row for row in rows if row["status"] != OK]
    if failed:
        first = failed[0]
        reason = first["error"] or f"non-finite loss at step {first['diverged_step']}; lower --lr or the noise scale"
        raise BenchError(f"{len(failed)} of {len(rows)} members {first['status']} ({first['model_spec']} "
                         f"seed {first['seed']}: {reason}); their rows are in {out} with that status")
    return 0


def _member_line(row: dict[str, Any], varied: list[str] = ()) -> str:
    """One member's result: final and best of its task's main metric (``main_metric``), speed, status; with
    the ``varied`` training settings named (several values were asked for)."""
    head = f"{row['model_spec']:28s} seed={row['seed']:<3d}" + "".join(f" {key}={_value(row[key])}" for key in varied)
    from bench.core.metrics import declared

    if row["status"] in FAILED:
        return f"{head} {row['status']}: {row['error']}"
    metric = declared(row["main_metric"])
    status = OK if row["status"] == OK else f"diverged at step {row['diverged_step']}"
    name, fit, d = metric.name, metric.fit, metric.digits  # held-out tasks: the best step is chosen on the fit
    scores = (f"{name}={row[name]:7.{d}f}  best={row['best_' + name]:7.{d}f} @ {row['best_step']:<6d}" if fit not in row
              else f"held-out {name}={row[name]:7.{d}f}  fit={row[fit]:7.{d}f}  at best fit (step "
                   f"{row['best_step']}): {row['best_' + name]:7.{d}f} / {row['best_' + fit]:7.{d}f}")
    return f"{head} {scores} {row['steps_per_s']:8.1f} steps/s  {status}{_other_scores(row, metric)}"


def _value(value: Any) -> str:
    return format(value, "g") if isinstance(value, float) else str(value)


def _other_scores(row: dict[str, Any], main) -> str:
    """The task's other declared scores at the last step (the sdf task's Chamfer distance, IoU and normal
    consistency; an image's SSIM...), each to its declared digits: "  [iou=0.9862 ...]"; "" when none."""
    from bench.core.metrics import METRICS

    shown = [f"{name}={row[name]:.{m.digits}f}" for name, m in METRICS.items()
             if name not in (main.name, main.fit) and not m.levels and not name.startswith("steps_to_")
             and isinstance(row.get(name), float) and math.isfinite(row[name])]
    return f"  [{' '.join(shown)}]" if shown else ""
