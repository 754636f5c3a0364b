"""Thread counts (bench.perf.threads): auto takes every CPU whatever the load."""

from __future__ import annotations

import pytest
import torch

from bench.core.errors import UsageError


def test_threads_auto_takes_every_cpu_whatever_the_load():
    """The thread count is not chosen by load: it changes the numbers of some tasks (the sdf task's SIREN
    loss, MAML's learning), so the same command must get the same count on an idle and a busy machine."""
    from bench.perf.threads import available_cpus, set_threads

    threads = torch.get_num_threads()
    try:
        assert set_threads("1") == "1 thread (--threads)" and torch.get_num_threads() == 1
        with pytest.raises(UsageError, match="--threads .*'x'"):
            set_threads("x")
        said = set_threads("auto")
        assert torch.get_num_threads() == available_cpus() and said.startswith(f"{available_cpus()} thread")
    finally:
        torch.set_num_threads(threads)
