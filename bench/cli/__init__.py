"""The `bench` command line: parse, call the library, print. Errors become one line and an exit code.

One module per command (or pair): its arguments (``add_<command>``) beside its ``cmd_<command>``;
options.py holds the flags several commands share."""

from __future__ import annotations

import argparse
import errno
import functools
import os
import sys
import warnings

from bench.cli import inspect, listing, report, run, speed, sweep
from bench.cli.options import EPILOG, CommandParser, Parser, common
from bench.core.errors import BenchError, BenchWarning

# The subcommands, in the order `bench --help` lists them.
COMMANDS = (listing.add_list, run.add_run, report.add_report, inspect.add_ntk, inspect.add_diagnose,
            sweep.add_sweep, speed.add_bench, sweep.add_status, sweep.add_reconstruct, report.add_table, report.add_site,
            speed.add_cache)


# The fix of each way a path given on the command line cannot be used.
PATH_FIXES = {FileExistsError: "a file is in the way: choose another path, or move the file",
              NotADirectoryError: "a part of the path is a file, not a folder: choose another path",
              IsADirectoryError: "it is a folder: name a file inside it",
              PermissionError: "you may not read or write it: choose a path you can, or fix its permissions"}
# ... and of a path that cannot be written whatever its name, by the error's number
DISK_FIXES = {errno.EROFS: "choose a path on a file system you can write",
              errno.ENOSPC: "free space, or choose a path on another disk",
              errno.EDQUOT: "free space, or choose a path on another disk"}


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="bench", parents=[common()], epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                    description="Benchmark initialization schemes for implicit neural representations.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=CommandParser)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    early = Parser(prog="bench", add_help=False)
    early.add_argument("--plugin", action="append", default=[])
    early.add_argument("--debug", action="store_true")
    known, _ = early.parse_known_args(argv)
    with warnings.catch_warnings():
        # each of our warnings once per command, counted here: the filter's own count starts again whenever
        # a library changes the filters (torch.compile does)
        warnings.simplefilter("always", BenchWarning)
        warnings.showwarning = functools.partial(_show_warning, shown=set())
        return _run(argv, known)


def _show_warning(message, category, filename, lineno, file=None, line=None, *, shown: set[str]) -> None:
    """Our warnings as one line (``bench: warning: ...``), each text once (``shown``: those printed so far);
    others as Python shows them."""
    if issubclass(category, BenchWarning):
        if str(message) not in shown:
            shown.add(str(message))
            print(f"bench: warning: {message}", file=sys.stderr)
    else:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def _run(argv: list[str], known: argparse.Namespace) -> int:
    try:
        if known.plugin:  # before the parser is built, so plugin tasks get their flags
            from bench.models import load_plugin

            for plugin in known.plugin:
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
        print(_path_problem(exc) or f"bench: internal error: {type(exc).__name__}: {exc} (rerun with --debug for the "
                                    f"traceback)", file=sys.stderr)
        return 1


def _path_problem(exc: Exception) -> str | None:
    """The line for a path that cannot be made, read or written (--out, --plot, ...: the path, why, the fix),
    or None for any other error."""
    fix = PATH_FIXES.get(type(exc)) or DISK_FIXES.get(getattr(exc, "errno", None))
    if not isinstance(exc, OSError) or fix is None:
        return None
    path = exc.filename2 or exc.filename  # a rename's target, not the temporary file it came from
    return f"bench: error: cannot use {path or 'a path'}: {exc.strerror or exc}; {fix}"
