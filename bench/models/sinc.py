"""Sinc activations (Saratchandran et al., ECCV 2024, "A sampling theory perspective on activations for
implicit neural representations"): sinc(z / T) / T with the normalised sinc, PyTorch's default weights.

The authors published no code; this follows the public reimplementation in FLAIR (CMLab-Korea/CVPRF26-FLAIR
@ 60bf840, modules/sinc.py): every hidden layer computes torch.sinc(z / T) / T, i.e.
sin(pi z / T) / (pi z / T) / T, equal to 1 / T at z = 0, with one T for all layers (1.0 in its image scripts)
and nn.Linear's default weights and biases. Here T is fixed (FLAIR trains it) and the output is linear (FLAIR
ends in a sigmoid); docs/methods.md lists these and the defaults per kind of signal.
"""

from __future__ import annotations

import torch
from torch import Tensor

from bench.models import Member, register_model
from bench.core.registry import PositiveFloat

# T per kind of signal: FLAIR's image scripts use 1.0; it has no audio, and no working sinc run on shapes
# (see docs/methods.md), so the values for those kinds are ours.
SINC_DEFAULTS = {"audio": {"T": 0.1}, "image": {"T": 1.0}, "shape": {"T": 1.0}}


def sinc_activation(z: Tensor, omega: Tensor) -> Tensor:
    """omega sinc(omega z) = sin(pi omega z) / (pi z), with omega = 1 / T; omega at z = 0 (torch.sinc(0) = 1)."""
    return omega * torch.sinc(omega * z)


@register_model(activation=sinc_activation)
def sinc(m: Member, T: PositiveFloat | None = None) -> dict:
    """Sinc activations sinc(z / T) / T as in FLAIR's port, PyTorch's default weights; T auto = 1 images, 0.1 audio.

    Keeps the weights and biases every member starts with (PyTorch's default) and sets each activation layer's
    omega to 1 / T; shapes take the image T. The values for audio and shapes are ours (docs/methods.md)."""
    T = m.default(SINC_DEFAULTS, "T") if T is None else T
    m.omegas = [1.0 / T] * len(m.omegas)
    return {"T": T}
