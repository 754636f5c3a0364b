"""Errors the CLI turns into one-line messages: usage problems exit 2, runtime problems exit 1."""


class BenchError(Exception):
    """A runtime problem with a message that names the problem and the fix (exit code 1)."""

    exit_code = 1


class UsageError(BenchError):
    """A bad command line, parameter or name (exit code 2)."""

    exit_code = 2
