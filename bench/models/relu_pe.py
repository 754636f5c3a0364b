"""Fourier features + ReLU MLP (Tancik et al., NeurIPS 2020): [sin(2 pi B x), cos(2 pi B x)], B ~ N(0, sigma^2).

The encoding is a fixed first layer (B, no bias, not trained) with width / 2 frequencies, so that it
yields `width` features; then `layers` ReLU layers and a linear output, nn.Linear's default init.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from bench.models import Layer, Member, register_model
from bench.core.registry import PositiveFloat


def fourier_features(z: Tensor, omega: Tensor) -> Tensor:
    """[sin(2 pi z), cos(2 pi z)] along the feature axis (z = B x)."""
    return torch.cat([torch.sin(2 * math.pi * z), torch.cos(2 * math.pi * z)], dim=-1)


def relu(z: Tensor, omega: Tensor) -> Tensor:
    return torch.relu(z)


@dataclass(frozen=True)
class FourierFeaturePlan:
    """Fixed Fourier encoding with width // 2 frequencies, then ReLU layers of the given width."""

    def __call__(self, d_in: int, width: int, layers: int, d_out: int) -> list[Layer]:
        frequencies = max(1, width // 2)
        encoding = Layer(d_in, frequencies, fourier_features, train_weights=False, train_bias=False)
        return ([encoding, Layer(2 * frequencies, width, relu)] + [Layer(width, width, relu)] * (layers - 1)
                + [Layer(width, d_out, None)])


RELU_PE_DEFAULTS = {"audio": {"sigma": 1000.0}, "image": {"sigma": 10.0},  # frequency spread per kind of signal
                    "shape": {"sigma": 10.0}}  # shapes: the image value


@register_model(plan=FourierFeaturePlan())
def relu_pe(m: Member, sigma: PositiveFloat | None = None) -> dict:
    """Fourier features (B ~ N(0, sigma^2)) + ReLU MLP; sigma auto = 1000 audio, 10 images (sweep it)."""
    sigma = m.default(RELU_PE_DEFAULTS, "sigma") if sigma is None else sigma
    m.weights[0] = m.normal(m.weights[0].shape, sigma)
    m.biases[0] = torch.zeros_like(m.biases[0])
    return {"sigma": sigma}
