"""SIREN and its noise-perturbed inits (siren2, siren2_filtered, winner), as docs/methods.md defines them."""

from __future__ import annotations

import math

import torch

from bench.models import Member, register_model
from bench.core.registry import NonNegativeFloat, PositiveFloat


# Defaults per kind of signal (docs/methods.md). S0 is in units of 1/w0 (S0 = 1/w0 for audio). WINNER:
# s0 = s0_max (1 - exp(-a z)) and s1 = s1_slope z, z the target's centroid per output channel.
# Shapes (the sdf task): w0_first 30 is SIREN's own SDF setting; the SIREN² code takes 3-D noise scales as
# given, with no formula and no published values, so siren2 and winner use their image values there (our
# choice, docs/methods.md).
SIREN_DEFAULTS = {"audio": {"w0_first": 3000.0}, "image": {"w0_first": 30.0}, "shape": {"w0_first": 30.0}}
SIREN2_DEFAULTS = {"audio": {"S0": 1.0}, "image": {"S0": 0.25}, "shape": {"S0": 0.25}}
WINNER_DEFAULTS = {"audio": {"a": 7.0, "s0_max": 3500.0, "s1_slope": 3.0},
                   "image": {"a": 5.0, "s0_max": 50.0, "s1_slope": 0.4},
                   "shape": {"a": 5.0, "s0_max": 50.0, "s1_slope": 0.4}}


def _siren_weights(m: Member, w0: float, w0_first: float) -> None:
    """Layer 0: U(±1/d_in); layers 1..L: U(±sqrt(6/fan_in)/w0); omegas [w0_first, w0, ...]."""
    m.weights[0] = m.uniform(m.weights[0].shape, 1.0 / m.weights[0].shape[1])
    for i in range(1, len(m.weights)):
        fan_in = m.weights[i].shape[1]
        m.weights[i] = m.uniform(m.weights[i].shape, math.sqrt(6.0 / fan_in) / w0)
    m.omegas = [w0_first] + [w0] * (len(m.omegas) - 1)


@register_model()
def siren(m: Member, w0: PositiveFloat = 30.0, w0_first: PositiveFloat | None = None) -> dict:
    """SIREN (Sitzmann et al. 2020); w0_first auto = 3000 for audio, 30 for images."""
    w0_first = m.default(SIREN_DEFAULTS, "w0_first") if w0_first is None else w0_first
    _siren_weights(m, w0, w0_first)
    return {"w0_first": w0_first}


def _perturbed(m: Member, S0: float | None, a: float, decay: float, w0: float, w0_first: float | None) -> dict:
    """SIREN plus N(0, (S0 / a^k)^2) on linear layer k+1, k = 0..L-1; noise row r scaled by decay^r."""
    used = siren(m, w0, w0_first)
    if S0 is None:
        S0 = m.default(SIREN2_DEFAULTS, "S0") / w0
    for k, i in enumerate(range(1, len(m.weights))):
        noise = m.normal(m.weights[i].shape, S0 / a**k)
        if decay != 1.0:
            noise *= decay ** torch.arange(noise.shape[0], dtype=noise.dtype)[:, None]
        m.weights[i] += noise
    return used | {"S0": S0}


@register_model()
def siren2(m: Member, S0: NonNegativeFloat | None = None, a: PositiveFloat = 100.0, w0: PositiveFloat = 30.0,
           w0_first: PositiveFloat | None = None) -> dict:
    """SIREN² (Chandravamsi et al. 2025): SIREN + per-layer noise S0 / a^k; S0 auto = 1/w0 audio, 0.25/w0 images."""
    return _perturbed(m, S0, a, 1.0, w0, w0_first)


@register_model()
def siren2_filtered(m: Member, S0: NonNegativeFloat | None = None, a: PositiveFloat = 100.0,
                    decay: NonNegativeFloat = 0.9, w0: PositiveFloat = 30.0, w0_first: PositiveFloat | None = None) -> dict:
    """SIREN² with row-filtered noise: row r of each noise matrix scaled by decay^r."""
    return _perturbed(m, S0, a, decay, w0, w0_first)


@register_model()
def winner(m: Member, s0: NonNegativeFloat | None = None, s1: NonNegativeFloat | None = None,
           a: PositiveFloat | None = None, w0: PositiveFloat = 30.0, w0_first: PositiveFloat = 30.0) -> dict:
    """WINNER: SIREN + N(0,(s0/w0)^2) on layer 0 and N(0,(s1/w0)^2) on layer 1, s0/s1 auto from the spectral centroid.

    With z = psi / C (C output channels): audio s0 = 3500 (1 - exp(-a z)), s1 = 3 z, a auto = 7;
    images s0 = 50 (1 - exp(-a z)), s1 = 0.4 z, a auto = 5.
    """
    z = m.signal.centroid / m.signal.d_out
    if a is None and (s0 is None or m.signal.domain in WINNER_DEFAULTS):  # recorded even when s0 is given
        a = m.default(WINNER_DEFAULTS, "a")
    if s0 is None:
        s0 = m.default(WINNER_DEFAULTS, "s0_max", instead="s0") * (1.0 - math.exp(-a * z))
    if s1 is None:
        s1 = m.default(WINNER_DEFAULTS, "s1_slope", instead="s1") * z
    _siren_weights(m, w0, w0_first)
    m.weights[0] += m.normal(m.weights[0].shape, s0 / w0)
    m.weights[1] += m.normal(m.weights[1].shape, s1 / w0)
    return {"s0": s0, "s1": s1, "a": a}
