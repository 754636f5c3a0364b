"""glibc malloc hands every block above its mmap threshold (at most 32 MiB by default) straight back
to the kernel when freed, so a CPU training step whose activations are tens of MiB maps and zero-fills
them anew on every step; raising the threshold keeps them (what it gains: benchmarks/RESULTS.md)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

M_MMAP_THRESHOLD = -3  # mallopt's parameter number (malloc.h)
MMAP_THRESHOLD = 1 << 30  # blocks up to 1 GiB stay in the heap and are reused

_applied: bool | None = None


def keep_large_blocks() -> bool:
    """Raise glibc's mmap threshold once per process (nothing elsewhere, or when the user set
    $MALLOC_MMAP_THRESHOLD_ themselves). The cost: freed memory stays with the process. Returns
    whether the setting is in effect."""
    global _applied
    if _applied is None:
        _applied = False
        if platform.libc_ver()[0] == "glibc" and "MALLOC_MMAP_THRESHOLD_" not in os.environ:
            libc = ctypes.CDLL(ctypes.util.find_library("c"))
            _applied = bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    return _applied
