"""Gaussian activations (Ramasinghe and Lucey, ECCV 2022): exp(-(s z)^2), PyTorch's default init."""

from __future__ import annotations

import torch
from torch import Tensor

from bench.models import Member, register_model
from bench.core.registry import PositiveFloat


def gaussian(z: Tensor, omega: Tensor) -> Tensor:
    """exp(-(omega z)^2); omega is the scale s."""
    return torch.exp(-(omega * z).square())


GAUSS_DEFAULTS = {"audio": {"s": 30.0}, "image": {"s": 10.0}, "shape": {"s": 10.0}}  # the scale per kind of signal (shapes: the image value)


@register_model(activation=gaussian)
def gauss(m: Member, s: PositiveFloat | None = None) -> dict:
    """Gaussian-activated MLP, nn.Linear's default weights; s auto = 30 audio, 10 images."""
    s = m.default(GAUSS_DEFAULTS, "s") if s is None else s
    m.omegas = [s] * len(m.omegas)
    return {"s": s}
