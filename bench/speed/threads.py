"""How many CPU threads torch uses: by default as many as the cores other processes leave free, so that a
run on a busy machine does not fight them for cores (two threads where another process holds one of two
cores ran many times slower than one). Measured from /proc/stat over a short sample; processes at a
lower priority (``nice``) count as free, since the kernel gives their cores to ours. The choice changes
speed only: at the shapes tested (up to 16,384 samples x 64) one and two threads give the same numbers
bit for bit, and rows name the count in ``device_name``."""

from __future__ import annotations

import os
import time

import torch

from bench.errors import UsageError
from bench.speed.cpu_share import CpuShare

SAMPLE_S = 0.3  # seconds of /proc/stat sampled to see what other processes use


def free_cores(sample_s: float = SAMPLE_S) -> float:
    """Cores not kept busy by other processes of our priority or higher, over ``sample_s`` seconds (all
    cores where /proc/stat is absent)."""
    cores = os.cpu_count() or 1
    share = CpuShare(niced=False)
    time.sleep(sample_s)
    return max(0.0, cores * (1.0 - share.others()))


def threads_for(free: float, cores: int) -> int:
    """The threads of ``--threads auto`` where ``free`` of ``cores`` cores are free: the nearest count, at
    least one."""
    return max(1, min(cores, round(free)))


def set_threads(setting: str) -> str:
    """Apply ``--threads`` ("auto" or a count) on the CPU; returns what the run header says of it."""
    cores = os.cpu_count() or 1
    if setting == "auto":
        free = free_cores()
        threads = threads_for(free, cores)
        torch.set_num_threads(threads)
        return f"{threads} thread{'s' if threads != 1 else ''} ({free:.1f} of {cores} cores free; --threads N to choose)"
    try:
        threads = int(setting)
    except ValueError:
        threads = 0
    if threads < 1:
        raise UsageError(f"--threads must be auto or a positive number of threads, got {setting!r}")
    torch.set_num_threads(threads)
    return f"{threads} thread{'s' if threads != 1 else ''} (--threads)"
