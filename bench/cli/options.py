"""Options several commands share, declared once: parent parsers (common flags, the inspected members) and
adders that place a shared flag where a command lists it."""

from __future__ import annotations

import argparse
import math
import sys
import time
from contextlib import contextmanager
from typing import Any, Iterator

from bench.core.errors import did_you_mean
from bench.experiment.presets import DEFAULTS
from bench.tasks import load_builtin_tasks
from bench.training.checkpoint import DEFAULT_EVERY_S

EPILOG = """examples:
  bench list models
  bench sweep quick --out runs/quick
  bench sweep specs/siren2-paper-audio.toml --executor ray --address auto
  bench status runs/quick
  bench run --model siren2 --task audio:arch --max-samples 65536 --width 64 --layers 4 --steps 200 --seeds 0-3 --out runs/demo
  bench run --model siren --model siren2_filtered:S0=0.05,decay=0.9 --task image:camera --side 128
  bench run --model siren --model winner --task inpaint-image:camera --side 64 --stride 2 --out runs/superres
  bench table runs/demo --metric snr_db --format markdown
  bench bench --members 1,4,16 --compile --roofline
"""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, the problem and where the help is (exit code 2)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def _get_value(self, action: argparse.Action, arg_string: str) -> Any:
        """argparse's conversion of one value, refusing an empty one: ``--out ""`` (an unset shell variable)
        would otherwise mean the default, or the current folder, without a word."""
        if not arg_string.strip() and action.nargs not in (argparse.PARSER, argparse.REMAINDER):  # not a command's args
            optional = action.option_strings and not action.required
            fix = "give a value, or leave the flag out for its default" if optional else "give one"
            raise argparse.ArgumentError(action, f"empty value {arg_string!r}; {fix}")
        return super()._get_value(action, arg_string)

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        """argparse's check of a value against ``choices``, with the nearest choice suggested."""
        if action.choices is not None and value not in action.choices:
            raise argparse.ArgumentError(action, f"invalid choice: {value!r}{did_you_mean(value, action.choices)}; "
                                                 f"choose from {', '.join(map(repr, action.choices))}")


class CommandParser(Parser):
    """A command's parser: it refuses the arguments it does not know itself, so the message names the command."""

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras


def positive(kind: type):
    """An argparse type: ``kind`` (int, float), finite and > 0."""
    def convert(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not (value > 0 and math.isfinite(value)):
            raise argparse.ArgumentTypeError(
                f"must be a positive {'integer' if kind is int else 'number'}, got {text!r}")
        return value
    return convert


def common() -> argparse.ArgumentParser:
    """--debug and --plugin, which every command (and `bench` itself) takes."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    parser.add_argument("--plugin", action="append", default=[], metavar="FILE",
                        help="run a .py file (its code runs with your rights) that registers models or tasks (repeatable)")
    return parser


def members() -> argparse.ArgumentParser:
    """Models x seeds on one task (run, ntk, diagnose): the flags, the device and the task options."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--model", action="append", metavar="NAME[:k=v,...]",
                        help=f"init scheme with optional parameters, repeatable (default: {' '.join(DEFAULTS['models'])})")
    parser.add_argument("--task", metavar="TASK:SIGNAL",
                        help="e.g. audio:arch, image:camera, audio:path/to/clip.wav, audio:synthetic:hf_noise "
                             f"(default: {DEFAULTS['task']})")
    parser.add_argument("--width", type=positive(int), help=f"hidden units per layer (default {DEFAULTS['width']})")
    parser.add_argument("--layers", type=positive(int), help=f"hidden layers (default {DEFAULTS['layers']})")
    parser.add_argument("--seeds", help=f"init seeds, e.g. 0-3 or 0,2,5 (default {DEFAULTS['seeds']})")
    add_device(parser)
    add_data_dir(parser)
    add_task_options(parser)
    return parser


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="directory holding the manifest's files (also: $BENCH_DATA)")


def add_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N")


def add_format(parser: argparse.ArgumentParser, choices: tuple[str, ...] = ("markdown", "csv")) -> None:
    parser.add_argument("--format", default="markdown", choices=list(choices))


def add_progress(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (also off when not a terminal)")


def add_threads(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", default="auto", metavar="auto|N",
                        help="CPU threads of torch: auto (default) one per CPU this process may use, whatever the "
                             "load (the count can change the numbers of some tasks; rows name it), or N")


def cpu_threads(args: argparse.Namespace, device) -> str:
    """Apply --threads on a CPU run; the words the run header adds (empty on a GPU)."""
    from bench.perf.threads import set_threads

    return f", {set_threads(args.threads)}" if device.type == "cpu" else ""


def add_compile(parser: argparse.ArgumentParser) -> None:
    """--compile off|on of run and sweep (bench bench's --compile is a switch of its own)."""
    parser.add_argument("--compile", default="off", choices=["off", "on"], metavar="off|on",
                        help="compile the training step with torch.compile: off (default) or on. Compiled steps round "
                             "differently from eager ones, and on a CPU their numbers also depend on the thread count "
                             "and the ensemble size: rows say so (column numerics) and tables name the cells that "
                             "pool them with eager rows")


def add_retrain_changed(parser: argparse.ArgumentParser) -> None:
    """--retrain-changed of run and sweep."""
    parser.add_argument("--retrain-changed", action="store_true",
                        help="train again the stored cells whose init scheme or task has changed code since their "
                             "rows were written (each row records a fingerprint of that code; without this flag "
                             "such a folder is refused)")


def add_checkpoint(parser: argparse.ArgumentParser) -> None:
    """--checkpoint-every SECONDS of run and sweep."""
    parser.add_argument("--checkpoint-every", type=non_negative_seconds, default=DEFAULT_EVERY_S, metavar="SECONDS",
                        help=f"save each ensemble's training state this often into OUT/_checkpoints, so that a rerun "
                             f"after a kill resumes it where it was, bit for bit (default {DEFAULT_EVERY_S:g}; 0: never)")


def non_negative(unit: str):
    """An argparse type: a finite number >= 0 of ``unit`` (fractions allowed)."""
    def convert(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not (math.isfinite(value) and value >= 0):
            raise argparse.ArgumentTypeError(f"must be a finite number of {unit} >= 0, got {text!r}")
        return value
    return convert


def non_negative_seconds(text: str) -> float | None:
    """An argparse type: seconds >= 0 and finite; 0 becomes None (never)."""
    return non_negative("seconds")(text) or None


def add_task_options(parser: argparse.ArgumentParser) -> None:
    """One flag per option of the registered tasks (``max_samples`` -> ``--max-samples``), once for all
    the tasks that share it. Its value stays text until the task is known (see ``task_options``)."""
    options: dict[str, tuple[list[str], str]] = {}
    for entry in load_builtin_tasks():
        for param in entry.params.values():
            tasks, text = options.get(param.name, ([], ""))
            options[param.name] = (tasks + [entry.name], text or entry.meta["help"].get(param.name, ""))
    for name, (tasks, text) in options.items():
        parser.add_argument("--" + name.replace("_", "-"), dest=f"task_{name}", metavar=name.upper(),
                            help=f"{text} [{', '.join(tasks)}]")


def task_options(args: argparse.Namespace) -> dict[str, str]:
    """The task-option flags the user gave, as given (``--max-samples 4096`` -> {"max_samples": "4096"}): the
    task's ``Entry.parse_options`` parses and checks them (tasks sharing a flag may declare different domains)."""
    return {key.removeprefix("task_"): value for key, value in vars(args).items()
            if key.startswith("task_") and value is not None}


@contextmanager
def measuring_share() -> Iterator[None]:
    """Around a run: print, when this process measured the ensemble sizes, the seconds it spent measuring and
    their share of the run, and apart from them what the run reused of that time (the warm-up's first-use
    costs; the sizes' timing aims at under a tenth of the job it sizes)."""
    from bench.perf.sizing import measuring_seconds, reused_seconds

    before, reused_before, started = measuring_seconds(), reused_seconds(), time.perf_counter()
    yield
    spent, total = measuring_seconds() - before, time.perf_counter() - started
    reused = {what: seconds - reused_before.get(what, 0.0) for what, seconds in reused_seconds().items()}
    reused = {what: seconds for what, seconds in reused.items() if seconds > 0}
    if spent > 0 or reused:
        parts = " and ".join(f"{seconds:.1f} s of {what}" for what, seconds in reused.items())
        print(f"measuring took {spent:.1f} s of this run's {total:.1f} s ({spent / total:.0%})"
              + (f"; besides, the run reused {parts}" if parts else ""), file=sys.stderr)
