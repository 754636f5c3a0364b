"""The CPU share of other processes (bench.perf.cpu_share), on /proc/stat lines written here."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.perf.cpu_share import busy_seconds, others_share


def test_the_cpu_share_of_others_leaves_out_our_own_time():
    """The arithmetic of a timing's load note, on /proc/stat lines written here (a test that read the
    machine's own load would pass or fail with it)."""
    before = "cpu  1000 200 300 9000 10 20 30 40 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n"
    after = "cpu  1100 400 350 9100 10 25 35 40 0 0\n"  # +100 user, +200 nice, +50 system, +5 irq, +5 softirq
    assert busy_seconds(after, 100) - busy_seconds(before, 100) == pytest.approx(3.6)
    assert others_share(3.6, 0.6, 2.0, 2) == pytest.approx(0.75)  # 3 of the 4 CPU-seconds were others'
    assert others_share(0.5, 0.9, 2.0, 2) == 0.0 and others_share(1.0, 0.0, 0.0, 2) == 0.0
    with pytest.raises(ValueError):
        busy_seconds("intr 1 2 3\n", 100)
    assert busy_seconds(Path("/proc/stat").read_text(), 100) > 0  # the real file has that form
