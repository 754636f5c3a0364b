"""Member-stacked MLPs: K independent networks evaluated with batched matmuls.

Each member is initialised on the CPU from its own seed (``Member``), so member k of an ensemble
holds exactly the weights a run of that seed alone would hold; ``Ensemble`` stacks the members
(weights [K, out, in]) and evaluates all of them in one forward/backward.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from collections.abc import Iterator
from typing import Callable

import torch
from torch import Tensor, nn

Activation = Callable[[Tensor, Tensor], Tensor]


def sine(z: Tensor, omega: Tensor) -> Tensor:
    """SIREN's activation sin(omega * z); omega [K, 1, 1] multiplies weights and bias alike."""
    return torch.sin(omega * z)


@dataclass(frozen=True)
class SignalInfo:
    """What an init scheme may know of its target.

    domain: "audio" (d_in = 1) or "image" (d_in = 2); centroid: the target's spectral centroid psi
    as methods.md defines it (1.0 = Nyquist).
    """

    domain: str
    d_in: int
    d_out: int
    centroid: float


class Member:
    """One member's parameters while its init scheme runs (float32, on the CPU).

    weights[i]: [out, in] of linear layer i = 0..L (L = hidden layers, layer L is the linear output);
    biases[i]: [out]; omegas[i]: frequency of activation layer i = 0..L-1. Both start as PyTorch's
    nn.Linear default, U(-1/sqrt(fan_in), 1/sqrt(fan_in)); omegas start at 1.
    Draw all randomness through ``uniform`` / ``normal`` so that the member's seed fixes it.
    """

    def __init__(self, sizes: list[int], seed: int, signal: SignalInfo):
        self.signal = signal
        self.generator = torch.Generator().manual_seed(seed)
        self.weights: list[Tensor] = []
        self.biases: list[Tensor] = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            bound = 1.0 / math.sqrt(fan_in)
            self.weights.append(self.uniform((fan_out, fan_in), bound))
            self.biases.append(self.uniform((fan_out,), bound))
        self.omegas: list[float] = [1.0] * (len(sizes) - 2)

    def uniform(self, shape: tuple[int, ...], bound: float) -> Tensor:
        """U(-bound, bound) samples of the given shape."""
        return (torch.rand(shape, generator=self.generator) * 2 - 1) * bound

    def normal(self, shape: tuple[int, ...], std: float) -> Tensor:
        """N(0, std^2) samples of the given shape."""
        return torch.randn(shape, generator=self.generator) * std


class Ensemble(nn.Module):
    """K stacked members sharing layer sizes and activation.

    weights[i]: [K, out, in]; biases[i]: [K, 1, out]; omegas: [L, K, 1, 1] (fixed, not trained).
    forward: coords [N, d_in] -> predictions [K, N, d_out].
    """

    def __init__(self, members: list[Member], activation: Activation):
        super().__init__()
        self.activation = activation
        layers = range(len(members[0].weights))
        self.weights = nn.ParameterList(torch.stack([m.weights[i] for m in members]) for i in layers)
        self.biases = nn.ParameterList(torch.stack([m.biases[i] for m in members])[:, None, :] for i in layers)
        omegas = torch.tensor([m.omegas for m in members], dtype=torch.float32)  # [K, L]
        self.register_buffer("omegas", omegas.T[:, :, None, None].contiguous())

    @property
    def size(self) -> int:
        return self.weights[0].shape[0]

    def hidden_layers(self, coords: Tensor) -> Iterator[tuple[Tensor, Tensor]]:
        """For each hidden layer i = 0..L-1: z = W_i h + b_i and the activation's output, both [K, N, H]."""
        z = torch.matmul(coords, self.weights[0].transpose(1, 2)) + self.biases[0]  # coords shared by members
        for i in range(len(self.weights) - 1):
            if i:
                z = torch.baddbmm(self.biases[i], h, self.weights[i].transpose(1, 2))
            h = self.activation(z, self.omegas[i])
            yield z, h

    def forward(self, coords: Tensor) -> Tensor:
        for _, h in self.hidden_layers(coords):
            pass
        return torch.baddbmm(self.biases[-1], h, self.weights[-1].transpose(1, 2))

    def matmul_macs(self) -> int:
        """Multiply-accumulates per coordinate per member in the linear layers (sum of in * out)."""
        return sum(w.shape[1] * w.shape[2] for w in self.weights)

    def member_parameters(self) -> int:
        """Trainable parameters of one member."""
        return sum(p[0].numel() for p in self.parameters())
