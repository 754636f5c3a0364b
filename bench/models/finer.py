"""FINER and FINER++ (Liu et al., CVPR 2024): sin(w (|z| + 1) z), SIREN's weight init."""

from __future__ import annotations

import torch
from torch import Tensor

from bench.models import Member, register_model
from bench.models.siren import siren
from bench.core.registry import NonNegativeFloat, PositiveFloat


def finer_sine(z: Tensor, omega: Tensor) -> Tensor:
    """sin(omega (|z| + 1) z), the scale |z| + 1 taken without gradient."""
    return torch.sin(omega * (z.abs().detach() + 1) * z)


@register_model(activation=finer_sine)
def finer(m: Member, w0: PositiveFloat = 30.0, w0_first: PositiveFloat | None = None) -> dict:
    """FINER: variable-periodic sine activation, SIREN init; w0_first auto = 3000 audio, 30 images."""
    return siren(m, w0, w0_first)


@register_model("finer++", activation=finer_sine)
def finer_pp(m: Member, w0: PositiveFloat = 30.0, w0_first: PositiveFloat | None = None,
             k: NonNegativeFloat = 5.0) -> dict:
    """FINER++: FINER with the first layer's bias drawn from U(-k, k)."""
    used = siren(m, w0, w0_first)
    m.biases[0] = m.uniform(m.biases[0].shape, k)
    return used
