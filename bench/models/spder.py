"""SPDER (Shah and Sitawarin, ICLR 2024): a sine damped by a sublinear factor, sin(x) * d(x) with x = w0 z.

Two dampings, as the official code (katop1234/SPDER @ 9360ec5) runs them: sqrt(max(|x|, 1e-43)) in its image,
super-resolution and video scripts, arctan(x) in its audio scripts. The weights are SIREN's (first layer
U(+-1/d_in), later layers and the output U(+-sqrt(6/fan_in)/w0), biases PyTorch's default) and every layer,
the first included, multiplies by w0 = 30. The damping defaults per kind of signal; docs/methods.md has the
file and line of each official choice and what this port adds.
"""

from __future__ import annotations

from typing import Annotated

import torch
from torch import Tensor

from bench.models import Member, register_model
from bench.models.siren import siren
from bench.core.registry import OneOf, PositiveFloat

# The floor under |x| before the square root: the value the official image script takes. Only at x = 0 does
# it act (float32 holds it as a subnormal, about 9.9e-44): there it keeps the gradient of the square root
# finite, so that sin(0) * inf does not turn into NaN.
SQRT_FLOOR = 1e-43

# How each damping is stored in the second number of a layer's omega (the first is the frequency w0).
DAMPINGS = {"sqrt": 0.0, "arctan": 1.0}

# The damping per kind of signal: the official image scripts use the square root, its audio scripts the
# arctangent. The official code has no 3-D shapes; they take the image damping (our choice).
SPDER_DEFAULTS = {"audio": {"damping": "arctan"}, "image": {"damping": "sqrt"}, "shape": {"damping": "sqrt"}}


def spder_activation(z: Tensor, omega: Tensor) -> Tensor:
    """sin(x) * d(x) at x = w0 z, (w0, code) = omega[..., 0], omega[..., 1]: d is sqrt(max(|x|, 1e-43)) where
    code is 0 and arctan(x) where it is 1 (members of one ensemble may differ in it)."""
    x = omega[..., 0] * z
    root = torch.sqrt(torch.clamp_min(x.abs(), SQRT_FLOOR))
    damping = torch.where(omega[..., 1] > 0.5, torch.atan(x), root)
    return torch.sin(x) * damping


@register_model(activation=spder_activation)
def spder(m: Member, w0: PositiveFloat = 30.0, w0_first: PositiveFloat = 30.0,
          damping: Annotated[str, OneOf("sqrt", "arctan")] | None = None) -> dict:
    """SPDER: sin(x) sqrt(|x|) or sin(x) arctan(x), x = w0 z, SIREN's weights; damping auto = arctan audio, sqrt images.

    w0 = 30 in every layer, the first included (the official code's omega_0 for all its signals); shapes take the
    image damping. Sets SIREN's weights, then omegas (w0_first, code) for layer 0 and (w0, code) for the others,
    code being the damping's number in DAMPINGS."""
    damping = m.default(SPDER_DEFAULTS, "damping") if damping is None else damping
    siren(m, w0, w0_first)
    m.omegas = [(w0_first, DAMPINGS[damping])] + [(w0, DAMPINGS[damping])] * (len(m.omegas) - 1)
    return {"damping": damping}
