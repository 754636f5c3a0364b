"""WIRE (Saragadam et al., CVPR 2023): complex Gabor wavelets exp(i w z - |s z|^2).

The first layer is real, the others complex (its activation makes the features complex); the output
is the real part. Hidden width is divided by sqrt(2) so that the real parameter count stays close to a
real network of the width asked for. Weights keep nn.Linear's default init (real and imaginary parts).
Frequencies per kind of signal are the official code's where it has the kind (docs/methods.md).
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


# (omega, s) per kind of signal. The official code (vishwa91/wire @ bf95232) recommends omega 20, s 30 for
# image representation (wire_image_denoise.py:38) and runs 3-D occupancy at omega 10, s 40
# (wire_occupancy.py:37-38); it has no audio, where omega 20, s 10 (its module defaults' scale) are ours.
WIRE_DEFAULTS = {"audio": {"omega": 20.0, "s": 10.0}, "image": {"omega": 20.0, "s": 30.0},
                 "shape": {"omega": 10.0, "s": 40.0}}


@register_model(plan=WirePlan())
def wire(m: Member, omega: PositiveFloat | None = None, s: PositiveFloat | None = None) -> dict:
    """WIRE: complex Gabor activations (frequency omega, spread s), width / sqrt(2); omega, s auto = the
    official 20, 30 on images and 10, 40 on shapes, 20, 10 on audio (ours)."""
    omega = m.default(WIRE_DEFAULTS, "omega") if omega is None else omega
    s = m.default(WIRE_DEFAULTS, "s") if s is None else s
    m.omegas = [(omega, s)] * len(m.omegas)
    return {"omega": omega, "s": s}
