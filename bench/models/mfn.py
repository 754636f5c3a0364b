"""Multiplicative filter networks (Fathony, Sahu, Willmott and Kolter, ICLR 2021): FourierNet and GaborNet.

No activation between layers: L filters g_i of the coordinates x [N, d_in] (units of our [-1, 1] grid), and
    z_1 = g_1(x),  z_{i+1} = (W_i z_i + b_i) * g_{i+1}(x)  (i = 1 .. L-1),  output W_L z_L + b_L,
every z_i of width H. Fourier filter: sin(Omega_i x + phi_i). Gabor filter: that sine times
exp(-gamma_i / 2 ||x - mu_i||^2), one centre mu [H, d_in] and one gamma [H] per unit. Our ``layers`` is L, the
number of filters (hidden representations of width H), so the network has L - 1 hidden H x H matrices as an
MLP of L hidden layers has; the official ``n_layers`` counts those matrices, so n_layers = L - 1.

The init is the official code's (boschresearch/multiplicative-filter-networks @ 58c3c4d, mfn/mfn.py), with
input_scale / sqrt(n_layers + 1) = input_scale / sqrt(L); its coordinates and targets are on [-1, 1] as ours
(mfn/data.py:28, 35-36), so nothing is rescaled. docs/methods.md has the line of each choice and the defaults.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from bench.models import Ensemble, Layer, Member, Network, register_model, sine
from bench.core.registry import PositiveFloat

# input_scale per kind of signal. Images: the official image script's 256 (mfn/experiments/image_rep.py:81, 91,
# also the class default, mfn/mfn.py:69, 116). Shapes: its 3-D (video) script's 256 (video_rep.py:76, 84).
# Audio, 30000, is ours: the official code has no 1-D experiment, and its 256 fits next to nothing on a clip of
# thousands of samples (docs/methods.md has the check).
MFN_DEFAULTS = {"audio": {"input_scale": 30000.0}, "image": {"input_scale": 256.0}, "shape": {"input_scale": 256.0}}


@dataclass(frozen=True)
class MultiplicativeFilterNetwork(Network):
    """The blocks of an MFN with L = ``layers`` filters of width H, in this order: per filter i, its frequencies
    Omega_i [H, d_in] with phases phi_i [H] (and for Gabor then its centres mu_i [H, d_in] with gamma_i [H], in the
    weight and bias of one block); then the L - 1 hidden linear layers W_i [H, H], b_i [H]; then the output
    [d_out, H]. Every block trains (the official filters are nn.Parameters). ``forward`` reads the blocks itself;
    their activations are labels: ``sine`` (omega 1) on frequency blocks, None on the others."""

    gabor: bool

    features = frozenset({"ntk", "bf16"})  # diagnose reads chained layers' pre-activations; an MFN has none

    def __call__(self, d_in: int, width: int, layers: int, d_out: int) -> list[Layer]:
        blocks = [Layer(d_in, width, sine)] + ([Layer(d_in, width, None)] if self.gabor else [])
        return blocks * layers + [Layer(width, width, None)] * (layers - 1) + [Layer(width, d_out, None)]

    def per_filter(self) -> int:
        """Blocks per filter: frequencies (and, for Gabor, centres)."""
        return 2 if self.gabor else 1

    def filters(self, blocks: int) -> int:
        """L, the number of filters of a network of ``blocks`` blocks (L (per_filter + 1) in all)."""
        return blocks // (self.per_filter() + 1)

    def forward(self, net: Ensemble, coords: Tensor, precision: str) -> Tensor:
        """[K, N, d_out] at coords [N, d_in] or [K, N, d_in]. The filters are computed elementwise in float32
        at any precision (``affine``: their frequencies, up to input_scale, would multiply a TF32 or bf16
        rounding of the coordinates); the hidden and output layers take ``precision``."""
        filters = self.filters(len(net.layers))
        first_linear = filters * self.per_filter()
        z = self.filter(net, 0, coords)
        for i in range(1, filters):
            z = self.filter(net, i, coords) * net._linear(first_linear + i - 1, z, precision)
        return net._linear(len(net.layers) - 1, z, precision)

    def filter(self, net: Ensemble, i: int, coords: Tensor) -> Tensor:
        """g_i(x) [K, N, H]: sin(Omega x + phi), times exp(-gamma / 2 ||x - mu||^2) for Gabor."""
        block = i * self.per_filter()
        x = coords[None] if coords.dim() == 2 else coords  # [1 or K, N, d_in]
        g = torch.sin(affine(x, net.weights[block], net.biases[block]))
        if not self.gabor:
            return g
        mu, gamma = net.weights[block + 1], net.biases[block + 1]  # [K, H, d_in], [K, 1, H]
        # -gamma / 2 ||x - mu||^2 = x.(gamma mu) - gamma / 2 |x|^2 - gamma / 2 |mu|^2 (the official code expands
        # the distance too, mfn.py:101-105): affine in (x, |x|^2), so no [K, N, H] difference per coordinate
        squares = torch.cat([x, x.square().sum(-1, keepdim=True)], dim=-1)
        slopes = torch.cat([gamma.transpose(1, 2) * mu, -0.5 * gamma.transpose(1, 2)], dim=-1)
        return g * torch.exp(affine(squares, slopes, -0.5 * gamma * mu.square().sum(-1)[:, None, :]))


def affine(x: Tensor, weights: Tensor, bias: Tensor) -> Tensor:
    """x W^T + b [K, N, H] for x [1 or K, N, m], weights [K, H, m], bias [K, 1, H], as m elementwise
    multiply-adds: exact float32 whatever the matmul precision, and each member's gradient summed as alone."""
    out = bias
    for j in range(weights.shape[2]):
        out = torch.addcmul(out, x[..., j, None], weights[:, None, :, j])
    return out


FOURIER = MultiplicativeFilterNetwork(gabor=False)
GABOR = MultiplicativeFilterNetwork(gabor=True)


def unit_uniform(m: Member, shape: tuple[int, ...]) -> Tensor:
    """U(0, 1] draws from the member's generator (never 0, so a logarithm stays finite)."""
    return 1.0 - (m.uniform(shape, 1.0) + 1.0) / 2.0


def gamma_draws(m: Member, count: int, concentration: float, rate: float) -> Tensor:
    """``count`` draws of Gamma(concentration, rate) (mean concentration / rate) from the member's own normal and
    uniform draws: Marsaglia and Tsang's squeeze-free rejection method (ACM TOMS 26(3), 2000), with the boost
    Gamma(a) = Gamma(a + 1) U^(1/a) for a < 1. The official code draws torch.distributions.Gamma."""
    a = concentration + 1.0 if concentration < 1.0 else concentration
    d = a - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    out = torch.empty(count, dtype=torch.float64)
    pending = torch.arange(count)
    while len(pending):  # each round accepts at least 95% of the draws
        x = m.normal((len(pending),), 1.0).double()
        u = unit_uniform(m, (len(pending),)).double()
        v = (1.0 + c * x) ** 3
        accept = (v > 0) & (u.log() < 0.5 * x**2 + d - d * v + d * v.clamp_min(1e-300).log())
        out[pending[accept]] = d * v[accept]
        pending = pending[~accept]
    if concentration < 1.0:
        out *= unit_uniform(m, (count,)).double() ** (1.0 / concentration)
    return (out / rate).float()


def _mfn_init(m: Member, gabor: bool, input_scale: float | None, weight_scale: float, alpha: float = 0.0,
              beta: float = 1.0) -> dict:
    """The official init (mfn/mfn.py @ 58c3c4d) on the member's blocks; returns input_scale as used.

    Filter i: Omega nn.Linear's U(+-1/sqrt(d_in)) times input_scale / sqrt(L) (FourierLayer, lines 53-54, 79;
    GaborLayer also times sqrt(gamma) per row, lines 96, 131), phi U(-pi, pi) (lines 55, 97); Gabor mu
    U(-1, 1) [H, d_in] (line 92), gamma Gamma(alpha / L, beta) (lines 93-95, 132). Hidden W
    U(+-sqrt(weight_scale / H)) (lines 26-30), b nn.Linear's U(+-1/sqrt(H)); the output nn.Linear's (line 23)."""
    input_scale = m.default(MFN_DEFAULTS, "input_scale") if input_scale is None else input_scale
    plan = GABOR if gabor else FOURIER
    per_filter, filters, width = plan.per_filter(), plan.filters(len(m.weights)), m.weights[0].shape[0]
    scale = input_scale / math.sqrt(filters)
    for i in range(filters):
        block = i * per_filter
        m.weights[block] *= scale  # the default draw U(+-1/sqrt(d_in)), as nn.Linear's, then scaled
        m.biases[block] = m.uniform((width,), math.pi)
        if gabor:
            gamma = gamma_draws(m, width, alpha / filters, beta)
            m.weights[block] *= gamma.sqrt()[:, None]
            m.weights[block + 1] = m.uniform(m.weights[block + 1].shape, 1.0)
            m.biases[block + 1] = gamma
    for i in range(filters * per_filter, len(m.weights) - 1):
        m.weights[i] = m.uniform(m.weights[i].shape, math.sqrt(weight_scale / width))
    return {"input_scale": input_scale}


@register_model(plan=FOURIER)
def mfn_fourier(m: Member, input_scale: PositiveFloat | None = None, weight_scale: PositiveFloat = 1.0) -> dict:
    """FourierNet (MFN with sine filters): layers = filters; input_scale auto = 256 images and shapes, 30000 audio.

    Filter frequencies U(+-1/sqrt(d_in)) input_scale / sqrt(layers), phases U(-pi, pi); hidden weights
    U(+-sqrt(weight_scale / width)); the official code's init and image defaults (docs/methods.md)."""
    return _mfn_init(m, False, input_scale, weight_scale)


@register_model(plan=GABOR)
def mfn_gabor(m: Member, input_scale: PositiveFloat | None = None, weight_scale: PositiveFloat = 1.0,
              alpha: PositiveFloat = 6.0, beta: PositiveFloat = 1.0) -> dict:
    """GaborNet (MFN with Gabor filters): layers = filters; input_scale auto = 256 images and shapes, 30000 audio.

    As mfn_fourier, with per filter gamma ~ Gamma(alpha / layers, beta) (rate beta), centres U(-1, 1) on our
    coordinates, and each frequency row times sqrt(gamma); the official code's init and defaults."""
    return _mfn_init(m, True, input_scale, weight_scale, alpha, beta)
