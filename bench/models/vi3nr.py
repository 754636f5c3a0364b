"""VI3NR (Koneputugodage et al., "VI3NR: Variance Informed Initialization for Implicit Neural
Representations", CVPR 2025, arXiv 2504.19270): every layer's weights drawn so that its pre-activations
have the chosen standard deviation ``sigma_p``, Var(W_i) = sigma_p^2 / (fan_in E[x_i^2]), where E[x_i^2]
(= mu^2 + sigma^2 of the layer's input) is the input's for the first layer and, for later ones, that of
the activation's output under N(0, sigma_p^2) pre-activations. Checked against the official code
(Chumbyte/vi3nr @ 4d27816, ``vi3nr.py`` and ``demo.py``): uniform weights of that variance on every linear
layer, the last included; biases left at their defaults; the first layer's gain from the input's mean and
std; the later gains from a Monte Carlo estimate of the activation's output statistics (1,000,000
samples), which here is a quadrature of E[f(z)^2] (deterministic, and equal to the closed forms where
they exist: sine (1 - exp(-2 w^2 s^2)) / 2, Gaussian 1 / sqrt(1 + 4 s^2 sigma^2)); ``sigma_p`` defaults to the
demo's 1.0. One scheme per activation: sine (``vi3nr``), Gaussian (``vi3nr_gauss``), FINER
(``vi3nr_finer``), each with its family's frequencies (docs/methods.md)."""

from __future__ import annotations

import math

import torch

from bench.models import Member, register_model
from bench.models.ensemble import Activation, sine
from bench.models.finer import finer_sine
from bench.models.gauss import GAUSS_DEFAULTS, gaussian
from bench.models.siren import SIREN_DEFAULTS
from bench.core.registry import PositiveFloat

MIN_POINTS, MAX_POINTS = 20_001, 20_000_001  # trapezoid points of output_second_moment
COORDINATE_SECOND_MOMENT = 1.0 / 3.0  # E[x^2] of coordinates spread evenly over [-1, 1] (mean 0, variance 1/3)


def output_second_moment(activation: Activation, omega: float, sigma: float) -> float:
    """E[f(z)^2] = mu^2 + sigma^2 of f(z) = activation(z, omega) for z ~ N(0, sigma^2): the trapezoid rule
    over z / sigma in [-12, 12] (beyond, the Gaussian weight is under 1e-31) with at least 40 points per
    period of omega z, so that the oscillating integrands of high frequencies (w0 = 3000) stay exact to
    about 1e-9 (adaptive quadrature gives up on them)."""
    periods = 24.0 * omega * sigma / (2 * math.pi)
    t = torch.linspace(-12.0, 12.0, int(min(MAX_POINTS, max(MIN_POINTS, 40 * periods))) | 1, dtype=torch.float64)
    values = activation(sigma * t, torch.tensor(omega, dtype=torch.float64))
    density = torch.exp(-0.5 * t * t) / math.sqrt(2 * math.pi)
    return float(torch.trapezoid(values * values * density, t))


def _variance_informed(m: Member, activation: Activation, omegas: list[float], sigma_p: float) -> dict:
    """Layer i: U(±sqrt(3) sigma_p / sqrt(fan_in E[x_i^2])), E[x_0^2] the coordinates', E[x_i^2] the
    activation's output under N(0, sigma_p^2) at layer i-1's frequency; omegas set."""
    m.omegas = omegas
    moment = COORDINATE_SECOND_MOMENT
    for i, weights in enumerate(m.weights):
        std = sigma_p / math.sqrt(weights.shape[1] * moment)
        m.weights[i] = m.uniform(weights.shape, math.sqrt(3.0) * std)
        if i < len(omegas):
            moment = output_second_moment(activation, omegas[i], sigma_p)
    return {"sigma_p": sigma_p}


@register_model()
def vi3nr(m: Member, sigma_p: PositiveFloat = 1.0, w0: PositiveFloat = 30.0,
          w0_first: PositiveFloat | None = None) -> dict:
    """VI3NR (Koneputugodage et al. 2025) on a sine network: pre-activation std sigma_p at every layer."""
    w0_first = m.default(SIREN_DEFAULTS, "w0_first") if w0_first is None else w0_first
    omegas = [w0_first] + [w0] * (len(m.omegas) - 1)
    return _variance_informed(m, sine, omegas, sigma_p) | {"w0_first": w0_first}


@register_model(activation=gaussian)
def vi3nr_gauss(m: Member, sigma_p: PositiveFloat = 1.0, s: PositiveFloat | None = None) -> dict:
    """VI3NR on a Gaussian network exp(-(s z)^2); s auto = 30 audio, 10 images."""
    s = m.default(GAUSS_DEFAULTS, "s") if s is None else s
    return _variance_informed(m, gaussian, [s] * len(m.omegas), sigma_p) | {"s": s}


@register_model(activation=finer_sine)
def vi3nr_finer(m: Member, sigma_p: PositiveFloat = 1.0, w0: PositiveFloat = 30.0,
                w0_first: PositiveFloat | None = None) -> dict:
    """VI3NR on a FINER network sin(w (|z| + 1) z)."""
    w0_first = m.default(SIREN_DEFAULTS, "w0_first") if w0_first is None else w0_first
    omegas = [w0_first] + [w0] * (len(m.omegas) - 1)
    return _variance_informed(m, finer_sine, omegas, sigma_p) | {"w0_first": w0_first}
