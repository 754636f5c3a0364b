"""WIRE (Saragadam et al., CVPR 2023): complex Gabor wavelets exp(i w z - |s z|^2).

The first layer is real, the others complex (its activation makes the features complex); the output
is the real part. Hidden width is divided by sqrt(2) so that the real parameter count stays close to a
real network of the width asked for. Weights keep nn.Linear's default init (real and imaginary parts).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from bench.models import Layer, Member, register_model
from bench.core.registry import PositiveFloat


def gabor(z: Tensor, omega: Tensor) -> Tensor:
    """exp(i w z - |s z|^2) with (w, s) = omega[..., 0], omega[..., 1]."""
    w, s = omega[..., 0], omega[..., 1]
    return torch.exp(1j * w * z - (s * z).abs().square())


@dataclass(frozen=True)
class WirePlan:
    """Real first layer, complex hidden and output layers, width / sqrt(2)."""

    def __call__(self, d_in: int, width: int, layers: int, d_out: int) -> list[Layer]:
        h = max(1, int(width / math.sqrt(2)))
        return ([Layer(d_in, h, gabor)] + [Layer(h, h, gabor, complex_weights=True)] * (layers - 1)
                + [Layer(h, d_out, None, complex_weights=True)])


@register_model(plan=WirePlan())
def wire(m: Member, omega: PositiveFloat = 20.0, s: PositiveFloat = 10.0) -> dict:
    """WIRE: complex Gabor activations (frequency omega, spread s), width / sqrt(2)."""
    m.omegas = [(omega, s)] * len(m.omegas)
    return {}
