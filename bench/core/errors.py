"""Errors the CLI turns into one-line messages: usage problems exit 2, runtime problems exit 1."""

import difflib
import sys
from collections.abc import Iterable


class BenchError(Exception):
    """A runtime problem with a message that names the problem and the fix (exit code 1)."""

    exit_code = 1


class UsageError(BenchError):
    """A bad command line, parameter or name (exit code 2)."""

    exit_code = 2


class BenchWarning(UserWarning):
    """Something the user should know about their input that does not stop the run (the CLI prints
    ``bench: warning: ...``)."""


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA OOM, or the CPU allocator failing (RuntimeError "can't allocate memory"), or MemoryError.
    torch is not imported here (a command's help needs none of it): an error of torch's comes after torch."""
    torch = sys.modules.get("torch")
    if isinstance(exc, MemoryError) or (torch is not None and isinstance(exc, torch.cuda.OutOfMemoryError)):
        return True
    return isinstance(exc, RuntimeError) and any(s in str(exc) for s in ("out of memory", "can't allocate memory"))


def did_you_mean(word: object, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the choice nearest ``word`` (case aside), or "" when none is near."""
    lowered = {choice.lower(): choice for choice in choices}
    near = difflib.get_close_matches(str(word).lower(), lowered, n=1)
    return f" (did you mean {lowered[near[0]]!r}?)" if near else ""
