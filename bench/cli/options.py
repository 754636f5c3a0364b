"""Options several commands share, declared once: the common flags, adders that place a shared flag where a
command lists it, and the ``Context`` a command's flags make.

Imports of the library sit inside the adders and commands: a command's arguments are built only when it is
used (``CommandParser``), so that ``bench --help`` loads neither torch nor the registries."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from typing import Any

from bench.core.errors import UsageError, did_you_mean

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
    """A command's parser. Its arguments are added by ``build`` when the command is used or its help is asked
    for, so that ``bench --help`` imports none of what they need (torch, the registries). It refuses the
    arguments it does not know itself, so the message names the command."""

    def __init__(self, *args, build: Callable[[argparse.ArgumentParser], None] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._build = build

    def _complete(self) -> None:
        """Add the command's arguments, once. A plugin task's option named like one of bench's flags is a usage
        error (argparse refuses the second flag of a name)."""
        build, self._build = self._build, None
        if build is not None:
            try:
                build(self)
            except argparse.ArgumentError as exc:
                raise UsageError(f"a task option clashes with a flag of bench ({exc}); rename that option in the "
                                 f"plugin that declares it") from None

    def format_help(self) -> str:
        self._complete()
        return super().format_help()

    def format_usage(self) -> str:
        self._complete()
        return super().format_usage()

    def parse_known_args(self, args=None, namespace=None):
        self._complete()
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


def add_members(parser: argparse.ArgumentParser) -> None:
    """Models x seeds on one task (run, ntk, diagnose): the flags, the device and the task options."""
    from bench.experiment.presets import DEFAULTS

    parser.add_argument("--model", action="append", metavar="NAME[:k=v,...]",
                        help=f"init scheme with optional parameters, repeatable (default: {' '.join(DEFAULTS['models'])}); "
                             f"add fr=true for Fourier reparameterized training (FR-INR; bench list models)")
    parser.add_argument("--task", metavar="TASK:SIGNAL",
                        help="e.g. audio:arch, image:camera, audio:path/to/clip.wav, audio:synthetic:hf_noise "
                             f"(default: {DEFAULTS['task']})")
    parser.add_argument("--width", type=positive(int), help=f"hidden units per layer (default {DEFAULTS['width']})")
    parser.add_argument("--layers", type=positive(int), help=f"hidden layers (default {DEFAULTS['layers']})")
    parser.add_argument("--seeds", help=f"init seeds, e.g. 0-3 or 0,2,5 (default {DEFAULTS['seeds']})")
    add_device(parser)
    add_data_dir(parser)
    add_task_options(parser)


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
    from bench.training.checkpoint import DEFAULT_EVERY_S

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
    from bench.tasks import load_builtin_tasks

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


def context_of(args: argparse.Namespace, executor=None, device: str | None = None):
    """The ``Context`` of a run or sweep from its flags (those it has), on ``executor`` (None: here)."""
    from bench.core.provenance import resolve_device
    from bench.experiment.context import Context
    from bench.signals.library import SignalLibrary

    given = vars(args)
    return Context(device=resolve_device(device or given.get("device", "auto")), executor=executor,
                   compile=given.get("compile") == "on", max_members=given.get("max_members"),
                   checkpoint_every_s=given.get("checkpoint_every"), retrain_changed=given.get("retrain_changed", False),
                   library=SignalLibrary(given.get("data_dir")), threads=given.get("threads", "auto"),
                   progress=not given.get("no_progress", False), debug=given.get("debug", False))


def say_measuring(outcome) -> None:
    """After a run: when it measured the ensemble sizes, the seconds it spent measuring and their share of the
    run, and apart from them what the run reused of that time (the warm-up's first-use costs; the sizes'
    timing aims at under a tenth of the job it sizes)."""
    reused = {what: seconds for what, seconds in outcome.reused_s.items() if seconds > 0}
    if outcome.measuring_s > 0 or reused:
        parts = " and ".join(f"{seconds:.1f} s of {what}" for what, seconds in reused.items())
        print(f"measuring took {outcome.measuring_s:.1f} s of this run's {outcome.seconds:.1f} s "
              f"({outcome.measuring_s / outcome.seconds:.0%})" + (f"; besides, the run reused {parts}" if parts else ""),
              file=sys.stderr)
