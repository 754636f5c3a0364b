"""The share of the CPUs other processes use, from /proc/stat (Linux): the load a timing notes (a size
measured under load is measured again by the next run). (psutil would add a dependency for these few lines.)"""

from __future__ import annotations

import os
import time
from pathlib import Path

STAT = Path("/proc/stat")


class CpuShare:
    """The share of all CPUs that other processes used since construction, minus the CPU time of this
    process and of its children (torch.compile's worker processes); 0 where /proc/stat is absent."""

    def __init__(self):
        self.wall, self.own, self.busy = time.perf_counter(), _own_seconds(), _read_busy_seconds()

    def others(self) -> float:
        busy = _read_busy_seconds()
        if busy is None or self.busy is None:
            return 0.0
        return others_share(busy - self.busy, _own_seconds() - self.own, time.perf_counter() - self.wall,
                            os.cpu_count() or 1)


def others_share(busy_s: float, own_s: float, wall_s: float, cores: int) -> float:
    """The share of ``cores`` CPUs that others kept busy over ``wall_s`` seconds in which all processes were
    busy ``busy_s`` CPU-seconds, ``own_s`` of them ours (0 for no time)."""
    return max(0.0, busy_s - own_s) / (wall_s * cores) if wall_s > 0 else 0.0


def busy_seconds(stat: str, ticks_per_s: float) -> float:
    """CPU seconds all processes spent busy since boot, from the text of /proc/stat (its first line: user
    nice system idle iowait irq softirq steal, in ticks): user + nice + system + irq + softirq + steal.
    Raises ValueError on text of another form."""
    fields = stat.split("\n", 1)[0].split()
    if not fields or fields[0] != "cpu" or len(fields) < 9:
        raise ValueError("not the text of /proc/stat")
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[1:9])
    return (user + nice + system + irq + softirq + steal) / ticks_per_s


def _read_busy_seconds() -> float | None:
    try:
        return busy_seconds(STAT.read_text(), os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError):
        return None


def _own_seconds() -> float:
    """CPU seconds of this process, its finished children and its running children (from /proc)."""
    times = os.times()
    seconds = times.user + times.system + times.children_user + times.children_system
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after "(command name)"
        except (OSError, IndexError):
            continue  # the process ended meanwhile
        if int(fields[1]) == os.getpid():  # ppid; utime and stime follow at 11 and 12
            seconds += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return seconds
