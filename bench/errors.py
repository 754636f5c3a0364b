"""Errors the CLI turns into one-line messages: usage problems exit 2, runtime problems exit 1."""

import torch


class BenchError(Exception):
    """A runtime problem with a message that names the problem and the fix (exit code 1)."""

    exit_code = 1


class UsageError(BenchError):
    """A bad command line, parameter or name (exit code 2)."""

    exit_code = 2


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA OOM, or the CPU allocator failing (RuntimeError "can't allocate memory"), or MemoryError."""
    if isinstance(exc, (torch.cuda.OutOfMemoryError, MemoryError)):
        return True
    return isinstance(exc, RuntimeError) and any(s in str(exc) for s in ("out of memory", "can't allocate memory"))
