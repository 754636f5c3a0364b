"""H-SIREN (Gao & Jaiman, arXiv 2410.04716): SIREN with the first layer's activation sin(sinh(2x)) in place of
sin(x), i.e. sin(w0_first sinh(2 z)) on z = W x + b, whose local frequency 2 w0_first cosh(2 z) grows with
|z|. No official code was found; where w0 enters follows the form the public ports share (docs/methods.md)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from bench.models import Layer, Member, register_model, sine
from bench.models.siren import siren
from bench.core.registry import PositiveFloat


def sinh_sine(z: Tensor, omega: Tensor) -> Tensor:
    """sin(omega sinh(2 z))."""
    return torch.sin(omega * torch.sinh(2 * z))


@dataclass(frozen=True)
class HyperbolicFirstPlan:
    """A sin(w sinh(2 z)) first layer, then sine layers and a linear output."""

    def __call__(self, d_in: int, width: int, layers: int, d_out: int) -> list[Layer]:
        return ([Layer(d_in, width, sinh_sine)] + [Layer(width, width, sine)] * (layers - 1)
                + [Layer(width, d_out, None)])


@register_model(plan=HyperbolicFirstPlan())
def h_siren(m: Member, w0: PositiveFloat = 30.0, w0_first: PositiveFloat | None = None) -> dict:
    """H-SIREN: sin(w0_first sinh(2 z)) in the first layer, SIREN elsewhere; w0_first auto = 3000 audio, 30 images."""
    return siren(m, w0, w0_first)
