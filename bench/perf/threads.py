"""How many CPU threads torch uses: ``--threads auto`` (the default) takes every CPU this process may run on,
whatever other processes use meanwhile. The count is not chosen by load because it can change numbers:
eager training steps of the regression tasks give the same numbers with any count (tested), but the sdf
task's SIREN loss (a gradient of a gradient), MAML's meta-learning and compiled steps split their sums by
it. Rows name the count in ``device_name``; on a busy machine ``--threads N`` trades those rows' device
kind for speed."""

from __future__ import annotations

import os

import torch

from bench.core.errors import UsageError

MAX_THREADS = 1024  # far above any CPU's count; torch's thread pool for 100,000 threads exhausts memory


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity, where the platform tells it), at least one."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def set_threads(setting: str) -> str:
    """Apply ``--threads`` ("auto" or a count) on the CPU; returns what the run header says of it."""
    if setting == "auto":
        threads = available_cpus()
        torch.set_num_threads(threads)
        return f"{threads} thread{'s' if threads != 1 else ''} (every CPU; --threads N to choose)"
    try:
        threads = int(setting)
    except ValueError:
        threads = 0
    if not 1 <= threads <= MAX_THREADS:
        raise UsageError(f"--threads must be auto or a number of threads from 1 to {MAX_THREADS}, got {setting!r} "
                         f"(this machine has {available_cpus()} CPUs)")
    torch.set_num_threads(threads)
    return f"{threads} thread{'s' if threads != 1 else ''} (--threads)"
