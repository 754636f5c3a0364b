"""Fourier features + ReLU MLP (Tancik et al., NeurIPS 2020): [sin(2 pi B v), cos(2 pi B v)], B ~ N(0, sigma^2).

v are the coordinates in Tancik's units, [0, 1) per axis (the official demo's grid), so ``sigma`` means
what it means in the paper: with our coordinates x in [-1, 1], v = (x + 1) / 2 and B v = (B / 2) x + B 1 / 2,
which is a fixed first layer of weights B / 2 and bias B 1 / 2 (not trained) with width / 2 frequencies,
so that it yields `width` features; then `layers` ReLU layers and a linear output, nn.Linear's default init.
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


# Frequency spread per kind of signal, in Tancik's units (coordinates in [0, 1)): 10 on images, the middle
# of the official demo's natural-image scales 1, 10, 100 (tancik/fourier-feature-networks @ 9c110c3,
# Demo.ipynb cells 4 and 8); shapes take the image value and audio 2000 (1000 per unit of our [-1, 1]
# coordinates): both ours.
RELU_PE_DEFAULTS = {"audio": {"sigma": 2000.0}, "image": {"sigma": 10.0}, "shape": {"sigma": 10.0}}


@register_model(plan=FourierFeaturePlan())
def relu_pe(m: Member, sigma: PositiveFloat | None = None) -> dict:
    """Fourier features (B ~ N(0, sigma^2), coordinates in [0, 1) as Tancik's) + ReLU MLP; sigma auto =
    10 images (the official demo's), 2000 audio (ours; sweep it)."""
    sigma = m.default(RELU_PE_DEFAULTS, "sigma") if sigma is None else sigma
    frequencies = m.normal(m.weights[0].shape, sigma)  # [width / 2, d_in]: B, per unit of v in [0, 1)
    m.weights[0] = frequencies / 2
    m.biases[0] = frequencies.sum(dim=1) / 2
    return {"sigma": sigma}
