"""Speed benchmarks (pytest-benchmark), not part of the default test run:

    python -m pytest benchmarks

On CUDA they time the GPU-sized problems (audio: 150,000 samples, 4 x 222; image: 256^2, 3 x 256),
on the CPU the CPU-sized ones (bench.perf.measure.SPEED_CONFIGS). The summary at the end gives
member-steps/s of each benchmark and its ratio to the plain reference loop on the same problem.
"""

from __future__ import annotations

import os

import pytest
import torch

from bench.signals.library import SignalLibrary
from bench.perf.measure import SPEED_CONFIGS
from bench.tasks import load_task

CUDA = torch.cuda.is_available()
DEVICE = torch.device("cuda" if CUDA else "cpu")
CONFIGS = ["audio", "image"] if CUDA else ["audio-cpu", "audio-cpu-4k", "image-cpu"]
STEPS = int(os.environ.get("BENCH_SPEED_STEPS") or (100 if CUDA else 20))

_rates: dict[tuple[str, str], float] = {}  # (config, variant) -> member-steps/s


@pytest.fixture(scope="session")
def tasks():
    library, loaded = SignalLibrary(), {}

    def get(name: str):
        if name not in loaded:
            config = SPEED_CONFIGS[name]
            loaded[name] = load_task(config.task, library, config.options).to(DEVICE)
        return loaded[name]
    return get


@pytest.fixture
def record():
    """record(config, variant, benchmark, member_steps): keep the measured member-steps/s for the summary."""
    def keep(config: str, variant: str, benchmark, member_steps: int) -> None:
        rate = member_steps / benchmark.stats.stats.mean
        benchmark.extra_info["member_steps_per_s"] = rate
        _rates[(config, variant)] = rate
    return keep


def pytest_terminal_summary(terminalreporter):
    if not _rates:
        return
    write = terminalreporter.write_line
    write("")
    write(f"member-steps/s on {DEVICE} ({torch.cuda.get_device_name() if CUDA else 'CPU'}), {STEPS} steps a run; "
          "ratio = / the reference loop's")
    for (config, variant), rate in sorted(_rates.items(), key=lambda item: item[0][0]):  # stable: run order
        reference = _rates.get((config, "reference"))
        ratio = f"{rate / reference:6.2f}x" if reference else "      "
        write(f"  {config:13s} {variant:27s} {rate:10.1f}  {ratio}")
