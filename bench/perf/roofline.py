"""The roofline floor of a training step: its matmul FLOPs at the device's measured matmul rate plus
the bytes of its elementwise passes at the measured memory bandwidth (no overlap assumed, so a real
step can come close to this floor but not beat it by much)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from bench.models import Ensemble

# float32 tensor passes of [K, N, H] per hidden layer and step, counted from the eager kernels (omega is
# folded into the weights, bias adds ride inside the matmuls): forward sin (read z, write h); backward
# cos (read z, write c), then grad * c (read two, write one).
ELEMENTWISE_PASSES = 7


@dataclass(frozen=True)
class DeviceRates:
    matmul_flop_per_s: float  # float32 (or the active matmul precision) square matmuls
    bytes_per_s: float  # a large tensor copy: read + write


def _timed(fn, device: torch.device, repeats: int) -> float:
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    started = time.perf_counter()
    for _ in range(repeats):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - started) / repeats


def measure_rates(device: torch.device) -> DeviceRates:
    """Matmul rate from a square matmul (8192^2 on CUDA, 1024^2 on the CPU) and bandwidth from copying
    a 512 MiB (CUDA) or 64 MiB (CPU) tensor."""
    n, elements = (8192, 2**27) if device.type == "cuda" else (1024, 2**24)
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    matmul_s = _timed(lambda: a @ b, device, repeats=10)
    src, dst = torch.randn(elements, device=device), torch.empty(elements, device=device)
    copy_s = _timed(lambda: dst.copy_(src), device, repeats=10)
    return DeviceRates(2 * n**3 / matmul_s, 2 * 4 * elements / copy_s)


def step_floor_s(model: Ensemble, samples: int, rates: DeviceRates) -> float:
    """Seconds one step of the whole ensemble needs at least: its matmul FLOPs (``Ensemble.train_flops``)
    at the matmul rate, plus ELEMENTWISE_PASSES float32 passes over every hidden
    activation at the bandwidth."""
    flops = model.train_flops(samples)
    hidden_units = sum(w.shape[1] for w in model.weights[:-1])
    elementwise_bytes = ELEMENTWISE_PASSES * 4 * samples * hidden_units * model.size
    return flops / rates.matmul_flop_per_s + elementwise_bytes / rates.bytes_per_s
