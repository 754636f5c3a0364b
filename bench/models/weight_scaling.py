"""Weight scaling (Yeom et al., "Fast Training of Sinusoidal Neural Fields via Scaling Initialization",
ICLR 2025, arXiv 2410.04779): SIREN's init with the weights of every layer but the output layer multiplied
by ``alpha``, which the paper finds trains sinusoidal fields several times faster. Checked against the
official code (effl-lab/Fast-Neural-Fields, ICLR2025/weight_scaling.py at commit 7a8f247): first layer
U(±alpha/d_in), hidden layers U(±alpha sqrt(6/fan_in)/w0), the output layer SIREN's U(±sqrt(6/fan_in)/w0),
biases left at their defaults, w0 = 30 on every sine layer of its image script (docs/methods.md)."""

from __future__ import annotations

from bench.models import Member, register_model
from bench.models.siren import siren
from bench.core.registry import PositiveFloat


@register_model()
def weight_scaling(m: Member, alpha: PositiveFloat = 2.5, w0: PositiveFloat = 30.0,
                   w0_first: PositiveFloat | None = None) -> dict:
    """Weight scaling (Yeom et al. 2025): SIREN init, all but the output layer's weights times alpha."""
    used = siren(m, w0, w0_first)
    for i in range(len(m.weights) - 1):
        m.weights[i] = m.weights[i] * alpha
    return used | {"alpha": alpha}
