"""The plain reference: what a researcher writes without this package.

One ``nn.Sequential`` SIREN per seed and one Adam loop over the full signal, seeds run one after
another. It is deliberately not part of ``bench`` and shares none of its code: the benchmarks
compare the package's batched ensembles against it (speed) and the tests check that both reach the
same metric (correctness).
"""

from __future__ import annotations

import math
import time

import torch
from torch import Tensor, nn


class Sine(nn.Module):
    def __init__(self, omega: float):
        super().__init__()
        self.omega = omega

    def forward(self, x: Tensor) -> Tensor:
        return torch.sin(self.omega * x)


def siren(d_in: int, width: int, layers: int, d_out: int, w0: float = 30.0, w0_first: float = 30.0) -> nn.Sequential:
    """L hidden sine layers of width H and a linear output, with SIREN's init (first layer
    U(-1/d_in, 1/d_in), later ones U(+-sqrt(6/fan_in)/w0); biases keep nn.Linear's default)."""
    modules: list[nn.Module] = []
    sizes = [d_in] + [width] * layers
    for i, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:])):
        linear = nn.Linear(fan_in, fan_out)
        bound = 1.0 / fan_in if i == 0 else math.sqrt(6.0 / fan_in) / w0
        with torch.no_grad():
            linear.weight.uniform_(-bound, bound)
        modules += [linear, Sine(w0_first if i == 0 else w0)]
    last = nn.Linear(width, d_out)
    with torch.no_grad():
        last.weight.uniform_(-math.sqrt(6.0 / width) / w0, math.sqrt(6.0 / width) / w0)
    return nn.Sequential(*modules, last)


def fit(net: nn.Module, coords: Tensor, target: Tensor, steps: int, lr: float = 1e-4) -> float:
    """Full-batch Adam on the MSE for ``steps`` steps; returns the final MSE. coords [N, d_in], target [N, d_out]."""
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    for _ in range(steps):
        loss = (net(coords) - target).square().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return float((net(coords) - target).square().mean())


def run_seeds(coords: Tensor, target: Tensor, seeds: list[int], width: int, layers: int, steps: int,
              lr: float = 1e-4, w0_first: float = 30.0) -> tuple[list[float], float]:
    """Train one net per seed, one after another. Returns the final MSE of each and the wall seconds."""
    started = time.perf_counter()
    mses = []
    for seed in seeds:
        torch.manual_seed(seed)
        net = siren(coords.shape[1], width, layers, target.shape[1], w0_first=w0_first).to(coords.device)
        mses.append(fit(net, coords, target, steps, lr))
    if coords.device.type == "cuda":
        torch.cuda.synchronize(coords.device)
    return mses, time.perf_counter() - started
