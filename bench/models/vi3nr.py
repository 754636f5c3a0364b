"""VI3NR (Koneputugodage et al., "VI3NR: Variance Informed Initialization for Implicit Neural
Representations", CVPR 2025, arXiv 2504.19270): every layer's weights drawn so that its pre-activations
have the standard deviation ``sigma_p``, Var(W_i) = sigma_p^2 / (fan_in E[x_i^2]), where E[x_i^2]
(= mu^2 + sigma^2 of the layer's input) is the coordinates' for the first layer and, for later ones, that
of the activation's output under N(0, sigma_p^2) pre-activations (official code Chumbyte/vi3nr @ 4d27816:
``vi3nr.py`` lines 16-80 for the gains, 83-113 for the uniform draw).

``sigma_p`` is derived unless given: the official toy script (``toy_experiments_all.py`` lines 146-186)
scans sigma_p over 0.001, 0.002, ..., 10 and keeps the value whose backward condition
sigma_p^2 E[f'(z)^2] / E[f(z)^2] (z ~ N(0, sigma_p^2), f' the derivative backpropagation uses) is nearest
to 1. Here the expectations are a deterministic quadrature instead of 10^6 random samples; the scan is the
official one. One sigma_p for all layers, derived at the hidden layers' frequency (docs/methods.md).
One scheme per activation: sine (``vi3nr``), Gaussian (``vi3nr_gauss``), FINER (``vi3nr_finer``)."""

from __future__ import annotations

import functools
import math

import torch

from bench.models import Member, register_model
from bench.models.ensemble import Activation, sine
from bench.models.finer import finer_sine
from bench.models.gauss import GAUSS_DEFAULTS, gaussian
from bench.models.siren import SIREN_DEFAULTS
from bench.core.registry import PositiveFloat

MIN_POINTS, MAX_POINTS = 20_001, 20_000_001  # trapezoid points of output_second_moment and backward_ratio
POINTS_PER_PERIOD = 40  # of omega z, for output_second_moment and backward_ratio
SCAN_MIN_POINTS, SCAN_POINTS_PER_PERIOD = 2_001, 8  # the cheaper rule of the sigma_p scan (within 1e-6 of the finer rule, tested)
SIGMA_P_STEP, SIGMA_P_STEPS = 0.001, 10_000  # the official scan: 0.001, 0.002, ..., 10 (toy_experiments_all.py:152)
COORDINATE_SECOND_MOMENT = 1.0 / 3.0  # E[x^2] of coordinates spread evenly over [-1, 1] (mean 0, variance 1/3)


def _points(omega: float, sigma: float, minimum: int, per_period: int) -> int:
    """Odd number of trapezoid nodes over z / sigma in [-12, 12]: ``per_period`` per period of omega z."""
    periods = 24.0 * omega * sigma / (2 * math.pi)
    return int(min(MAX_POINTS, max(minimum, per_period * periods))) | 1


def _moments(activation: Activation, omega: float, sigmas: torch.Tensor, points: int) -> tuple[torch.Tensor, torch.Tensor]:
    """E[f(z)^2] and E[f'(z)^2] for z ~ N(0, sigma^2), one per entry of ``sigmas`` [S] (float64): the
    trapezoid rule on ``points`` nodes of z / sigma in [-12, 12] (beyond, the Gaussian weight is under 1e-31).
    f' is what autograd gives for the activation, i.e. the derivative backpropagation uses (FINER's scale
    |z| + 1 carries no gradient). Returns two [S] tensors."""
    t = torch.linspace(-12.0, 12.0, points, dtype=torch.float64)
    z = (sigmas[:, None] * t).requires_grad_(True)
    with torch.enable_grad():
        f = activation(z, torch.tensor(omega, dtype=torch.float64))
        (derivative,) = torch.autograd.grad(f.sum(), z)
    density = torch.exp(-0.5 * t * t) / math.sqrt(2 * math.pi)
    f = f.detach()
    return torch.trapezoid(f * f * density, t, dim=-1), torch.trapezoid(derivative * derivative * density, t, dim=-1)


def output_second_moment(activation: Activation, omega: float, sigma: float) -> float:
    """E[f(z)^2] = mu^2 + sigma^2 of f(z) = activation(z, omega) for z ~ N(0, sigma^2) (sigma: the
    pre-activation std, units of z), with at least 40 nodes per period of omega z, so that the oscillating
    integrands of high frequencies (w0 = 3000) stay exact to about 1e-9 (adaptive quadrature gives up)."""
    points = _points(omega, sigma, MIN_POINTS, POINTS_PER_PERIOD)
    return float(_moments(activation, omega, torch.tensor([sigma], dtype=torch.float64), points)[0][0])


def backward_ratio(activation: Activation, omega: float, sigma: float) -> float:
    """The official backward condition sigma^2 E[f'(z)^2] / E[f(z)^2] for z ~ N(0, sigma^2) (dimensionless;
    1 keeps the gradient variance equal across layers), same quadrature as output_second_moment."""
    points = _points(omega, sigma, MIN_POINTS, POINTS_PER_PERIOD)
    second, derivative = _moments(activation, omega, torch.tensor([sigma], dtype=torch.float64), points)
    return float(sigma * sigma * derivative[0] / second[0])


def scan_backward_ratios(activation: Activation, omega: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The official scan's sigma_p values [10000] (0.001 ... 10) and their backward ratios [10000], float64,
    in blocks of sigma_p that share a node count (SCAN_POINTS_PER_PERIOD nodes per period of omega z)."""
    sigmas = SIGMA_P_STEP * torch.arange(1, SIGMA_P_STEPS + 1, dtype=torch.float64)
    ratios, start = [], 0
    while start < len(sigmas):
        points = _points(omega, float(sigmas[start]), SCAN_MIN_POINTS, SCAN_POINTS_PER_PERIOD)
        limit = max(1, 4_000_000 // points)
        end = start + 1
        while (end < len(sigmas) and end - start < limit
               and _points(omega, float(sigmas[end]), SCAN_MIN_POINTS, SCAN_POINTS_PER_PERIOD) <= 1.25 * points):
            end += 1
        points = _points(omega, float(sigmas[end - 1]), SCAN_MIN_POINTS, SCAN_POINTS_PER_PERIOD)
        second, derivative = _moments(activation, omega, sigmas[start:end], points)
        ratios.append(sigmas[start:end] ** 2 * derivative / second)
        start = end
    return sigmas, torch.cat(ratios)


@functools.lru_cache(maxsize=None)
def optimal_sigma_p(activation: Activation, omega: float) -> float:
    """The official choice of sigma_p (toy_experiments_all.py:182): of the scan 0.001, 0.002, ..., 10, the
    value whose backward ratio is nearest to 1 (the first, on a tie). Pre-activation std, units of z."""
    sigmas, ratios = scan_backward_ratios(activation, omega)
    return round(float(sigmas[int(torch.argmin((ratios - 1).abs()))]), 3)


def _variance_informed(m: Member, activation: Activation, omegas: list[float], sigma_p: float | None,
                       hidden_omega: float) -> dict:
    """Layer i: U(±sqrt(3) sigma_p / sqrt(fan_in E[x_i^2])), E[x_0^2] the coordinates', E[x_i^2] the
    activation's output under N(0, sigma_p^2) at layer i-1's frequency; omegas set. sigma_p None: derived
    at ``hidden_omega`` (optimal_sigma_p)."""
    if sigma_p is None:
        sigma_p = optimal_sigma_p(activation, hidden_omega)
    m.omegas = omegas
    moment = COORDINATE_SECOND_MOMENT
    for i, weights in enumerate(m.weights):
        std = sigma_p / math.sqrt(weights.shape[1] * moment)
        m.weights[i] = m.uniform(weights.shape, math.sqrt(3.0) * std)
        if i < len(omegas):
            moment = output_second_moment(activation, omegas[i], sigma_p)
    return {"sigma_p": sigma_p}


@register_model()
def vi3nr(m: Member, sigma_p: PositiveFloat | None = None, w0: PositiveFloat = 30.0,
          w0_first: PositiveFloat | None = None) -> dict:
    """VI3NR (Koneputugodage et al. 2025) on a sine network: pre-activation std sigma_p at every layer;
    sigma_p auto = the official scan's backward-condition optimum at w0 (0.001 at w0 = 30)."""
    w0_first = m.default(SIREN_DEFAULTS, "w0_first") if w0_first is None else w0_first
    omegas = [w0_first] + [w0] * (len(m.omegas) - 1)
    return _variance_informed(m, sine, omegas, sigma_p, w0) | {"w0_first": w0_first}


@register_model(activation=gaussian)
def vi3nr_gauss(m: Member, sigma_p: PositiveFloat | None = None, s: PositiveFloat | None = None) -> dict:
    """VI3NR on a Gaussian network exp(-(s z)^2); s auto = 30 audio, 10 images; sigma_p auto = the official
    scan's backward-condition optimum at s (0.037 at s = 30, 0.110 at s = 10)."""
    s = m.default(GAUSS_DEFAULTS, "s") if s is None else s
    return _variance_informed(m, gaussian, [s] * len(m.omegas), sigma_p, s) | {"s": s}


@register_model(activation=finer_sine)
def vi3nr_finer(m: Member, sigma_p: PositiveFloat | None = None, w0: PositiveFloat = 30.0,
                w0_first: PositiveFloat | None = None) -> dict:
    """VI3NR on a FINER network sin(w (|z| + 1) z); sigma_p auto = the official scan's backward-condition
    optimum at w0 (0.001 at w0 = 30)."""
    w0_first = m.default(SIREN_DEFAULTS, "w0_first") if w0_first is None else w0_first
    omegas = [w0_first] + [w0] * (len(m.omegas) - 1)
    return _variance_informed(m, finer_sine, omegas, sigma_p, w0) | {"w0_first": w0_first}
