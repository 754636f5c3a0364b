"""Grid baselines sized by the same parameter budgets as the INRs, as docs/methods.md ("Baselines") defines them.

grid: a dense grid of values over [-1, 1]^d_in, interpolated multilinearly (linear for clips, bilinear for images,
trilinear for shapes), optionally with a total-variation term: the grid of voilalab/INR-benchmark @ 0463b3f
("Grids Often Outperform Implicit Neural Representations", NeurIPS 2025), models/grid.py, utils.py:208-228.
hash_grid: Instant-NGP's multiresolution hash encoding (Mueller, Evans, Schied and Keller, SIGGRAPH 2022) and a
small ReLU MLP, in plain PyTorch; the hash's primes and the feature init as NVlabs/tiny-cuda-nn @ 6ee3546, the
settings those of voilalab's Instant_NGP (models/instant_ngp.py over tiny-cuda-nn's data/config_hash.json).

Every model of a run trains at one learning rate, and the authors train these faster than the INRs. Each value is
therefore stored as parameter x ``gain`` (a fixed number per member, its omega): under Adam a parameter moves
about lr per step whatever the scale of its gradient, so the value moves gain x lr (Adam's epsilon, 1e-8 on the
parameter, acts as 1e-8 / gain on the value).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch
from torch import Tensor

from bench.core.errors import UsageError
from bench.core.registry import NonNegativeFloat, PositiveFloat
from bench.models import Ensemble, Layer, Member, Network, register_model
from bench.models.relu_pe import relu

# grid: the authors train it with Adam at 0.1 (hyperparameters.json:26-28, run.py:130, 198 and 206), their INRs at
# 1e-4 (SIREN, hyperparameters.json:9-10), on targets in [0, 1]. Ours are in [-1, 1] (v -> 2 v - 1), so their
# step of 0.1 is 0.2 here, and at the benchmark's lr 1e-4 a gain of 2000 takes it; at any other shared lr the
# grid keeps the authors' rate relative to SIREN's (1000), in our units.
GRID_GAIN = 2000.0
# Their grid starts at 0.1 everywhere (models/grid.py:55), i.e. -0.8 on images mapped to [-1, 1]; clips and signed
# distances have no [0, 1] form, and start at 0 (ours).
GRID_FILL = {"image": {"fill": -0.8}, "audio": {"fill": 0.0}, "shape": {"fill": 0.0}}
# utils.py:221 clamps the squared gradient at 1e-6 before the square root; on values twice theirs that is 4e-6,
# so that our TV of the mapped grid is exactly twice theirs.
TV_EPS = 4e-6

# hash_grid: Instant-NGP's typical values (paper, Table 1) and tiny-cuda-nn's data/config_hash.json:13-21, which
# voilalab's Instant_NGP reads (models/instant_ngp.py:13-20): L = 16 levels of F = 2 features, coarsest
# resolution N_min = 16, growth b = 1.5 per level (N_max = 16 * 1.5^15, about 7006) for images and shapes. Clips
# are ours: the paper matches N_max to the finest detail of the data, and our longest clips have 150,000 samples,
# so N_max = 2^17 there (b = 2^(13/15), about 1.82).
LEVELS, FEATURES, COARSEST = 16, 2, 16
GROWTH = 1.5  # per level, for every d_in but 1
CLIP_FINEST = 2**17  # N_max for d_in 1
MLP_WIDTH = 64  # the hidden width of voilalab's decoder (instant_ngp.py:23) and of the paper's
# tiny-cuda-nn's coherent_prime_hash (include/tiny-cuda-nn/common_device.h:787-791), the first three the paper's
PRIMES = (1, 2654435761, 805459861, 3674653429, 2097192037, 1434869437, 2165219737)
FEATURE_INIT = 1e-4  # U(-1e-4, 1e-4) (the paper; encodings/grid.h:1076-1079)
# voilalab trains Instant_NGP with Adam at 1e-2 (hyperparameters.json:38-40), 100 times SIREN's 1e-4
HASH_GAIN = 100.0


def grid_values(z: Tensor, omega: Tensor) -> Tensor:
    """Marks a layer of grid values (``GridLevel``): its plan gathers and interpolates them, so it is never
    applied as an activation. Its omega carries the member's gain (and the grid's TV weight)."""
    raise NotImplementedError("grid values are interpolated by their plan's forward, not applied as an activation")


@dataclass(frozen=True, kw_only=True)
class GridLevel(Layer):
    """A table of grid values, weights [channels, entries]: the vertices of a grid of ``resolution`` cells per
    axis over [-1, 1]^dims, indexed densely ((resolution + 1)^dims entries, ``dense_index``) or, ``hashed``, by
    the spatial hash into fan_in entries (``spatial_hash``). Its bias is neither used nor trained."""

    resolution: int
    dims: int
    hashed: bool = False

    def index(self, vertices: Tensor) -> Tensor:
        """Table entries [...] of integer vertices [..., dims]."""
        return spatial_hash(vertices, self.fan_in) if self.hashed else dense_index(vertices, self.resolution + 1)


def corners(coords: Tensor, resolution: int) -> tuple[Tensor, Tensor]:
    """The 2^d vertices around each point on a grid of ``resolution`` cells per axis spanning [-1, 1]^d (vertices
    0 .. resolution per axis, -1 at vertex 0 and 1 at the last), and their multilinear weights.

    coords [..., d] -> vertices [2^d, ..., d] (int64) and weights [2^d, ...], which sum to 1 over the corners;
    corner c takes the upper vertex along axis k where bit k of c (the first axis the most significant) is set.
    A point outside the box is moved onto its nearest face (grid_sample's border padding); a point on the upper
    face lies in the last cell, at fraction 1. Positions are computed in float64: in float32 a clip's finest level
    (2^17 cells) would round them to 1/128 of a cell.
    """
    d = coords.shape[-1]
    position = ((coords.double() + 1) / 2 * resolution).clamp(0, resolution)  # in cells, as grid_sample's
    low = position.detach().floor().clamp(max=max(resolution - 1, 0))
    fraction = (position - low).to(coords.dtype)  # its gradient is the coordinate's: floor has none
    bits = torch.tensor(list(itertools.product((0, 1), repeat=d)), device=coords.device)  # [2^d, d]
    bits = bits.view(2**d, *[1] * (coords.dim() - 1), d)
    vertices = low.long() + bits
    weights = torch.where(bits.bool(), fraction, 1 - fraction).prod(dim=-1)
    return vertices, weights


def dense_index(vertices: Tensor, side: int) -> Tensor:
    """Entry sum_k v_k side^k of vertices [..., d] on a grid of ``side`` vertices per axis (the first axis
    fastest, as tiny-cuda-nn's grid_index, common_device.h:847-884): each vertex its own entry."""
    strides = side ** torch.arange(vertices.shape[-1], device=vertices.device)
    return (vertices * strides).sum(dim=-1)


def spatial_hash(vertices: Tensor, size: int) -> Tensor:
    """Instant-NGP's spatial hash of vertices [..., d]: (XOR over k of v_k pi_k, in uint32 arithmetic) mod size,
    with pi = ``PRIMES`` (tiny-cuda-nn's lcg_hash, common_device.h:767-779, and grid_index's final modulo)."""
    if vertices.shape[-1] > len(PRIMES):
        raise UsageError(f"hash_grid hashes at most {len(PRIMES)} coordinates, not {vertices.shape[-1]}")
    mask = 0xFFFFFFFF  # the products of uint32 multiplication wrap around at 2^32 (int64 holds them exactly)
    hashed = torch.zeros_like(vertices[..., 0])
    for k in range(vertices.shape[-1]):
        hashed = hashed ^ ((vertices[..., k] * PRIMES[k]) & mask)
    return hashed % size


def interpolate(values: Tensor, index: Tensor, weights: Tensor) -> Tensor:
    """Sum over corners of weight x value: values [K, C, entries]; index and weights [2^d, N] (points shared by
    the members) or [2^d, K, N] (each member its own) -> [K, N, C]. One gather per call, no [N, entries] matrix;
    the corners are added in order, so a member computes the same alone or in an ensemble."""
    members, channels = values.shape[:2]
    corners_ = index.shape[0]
    if index.dim() == 2:
        picked = values[:, :, index.reshape(-1)].view(members, channels, corners_, -1)  # [K, C, 2^d, N]
        weights = weights[:, None, None, :]
    else:
        rows = torch.arange(members, device=values.device)[:, None]
        picked = values.transpose(1, 2)[rows, index.transpose(0, 1).reshape(members, -1)]  # [K, 2^d N, C]
        picked = picked.view(members, corners_, -1, channels).permute(0, 3, 1, 2)
        weights = weights[:, :, None, :]
    out = weights[0] * picked[:, :, 0]
    for c in range(1, corners_):
        out = out + weights[c] * picked[:, :, c]
    return out.transpose(1, 2)


def total_variation(values: Tensor, side: int, dims: int) -> Tensor:
    """The authors' total variation (utils.py:208-228, 2-D there, any d here) of grids [K, C, side^dims] (first
    axis fastest): at each cell's lower vertex the forward differences along every axis, sqrt(max(sum of their
    squares, TV_EPS)), averaged over channels and the (side - 1)^dims cells -> [K]."""
    grid = values.reshape(*values.shape[:2], *[side] * dims)
    cells = (slice(None), slice(None)) + (slice(0, side - 1),) * dims
    squares = sum(grid.diff(dim=2 + axis)[cells] ** 2 for axis in range(dims))
    return squares.clamp(min=TV_EPS).sqrt().flatten(1).mean(dim=1)


@dataclass(frozen=True)
class DenseGrid(Network):
    """``width`` grid points per axis (``width``^d_in vertices) holding d_out values each, one ``GridLevel``;
    ``layers`` is unused. Parameters: width^d_in x d_out."""

    features = frozenset()

    def __call__(self, d_in: int, width: int, layers: int, d_out: int) -> list[Layer]:
        return [GridLevel(width**d_in, d_out, grid_values, train_bias=False, resolution=width - 1, dims=d_in)]

    def forward(self, net: Ensemble, coords: Tensor, precision: str) -> Tensor:
        level = net.layers[0]
        gain = net.omegas[0, :, :, :, 0]  # [K, 1, 1]
        vertices, weights = corners(coords, level.resolution)
        return interpolate(gain * net.weights[0], level.index(vertices), weights)

    def penalty(self, net: Ensemble) -> Tensor:
        """tv x the total variation of each member's values (0 where tv is 0)."""
        level = net.layers[0]
        gain, tv = net.omegas[0, :, :, :, 0], net.omegas[0, :, 0, 0, 1]
        return tv * total_variation(gain * net.weights[0], level.resolution + 1, level.dims)

    def linear_layers(self, net: Ensemble) -> tuple[int, ...]:
        return ()

    def macs(self, net: Ensemble) -> int:
        """The interpolation's multiply-adds per point: 2^d corners per channel."""
        level = net.layers[0]
        return 2**level.dims * level.fan_out


@register_model(plan=DenseGrid())
def grid(m: Member, tv: NonNegativeFloat = 0.0, gain: PositiveFloat = GRID_GAIN, fill: float | None = None) -> dict:
    """Dense grid (voilalab/INR-benchmark's): width points per axis over [-1, 1]^d_in, multilinear interpolation,
    values stored / gain; every value starts at fill (auto: -0.8 images, their 0.1 on [0, 1]; 0 audio and shapes);
    tv: weight of the total-variation term (0: none; the authors' weights are per budget, docs/methods.md)."""
    level = m.layers[0]
    if level.resolution < 1:
        raise UsageError("grid needs at least 2 points per axis; give --width 2 or more (or a larger --params)")
    fill = m.default(GRID_FILL, "fill") if fill is None else fill
    m.weights[0] = torch.full_like(m.weights[0], fill / gain)
    m.biases[0] = torch.zeros_like(m.biases[0])
    m.omegas = [(gain, tv)]
    return {"fill": fill}


def resolutions(d_in: int) -> list[int]:
    """The levels' resolutions N_l = floor(N_min b^l), l = 0 .. L - 1 (paper, eq. 2 and 3; the guard keeps a
    power that is an integer, 16 b^15 = 2^17 for clips, from rounding down)."""
    growth = (CLIP_FINEST / COARSEST) ** (1 / (LEVELS - 1)) if d_in == 1 else GROWTH
    return [math.floor(COARSEST * growth**level * (1 + 1e-12)) for level in range(LEVELS)]


@dataclass(frozen=True)
class HashGrid(Network):
    """L = 16 ``GridLevel``s of F = 2 features, level l a grid of N_l cells per axis (``resolutions``) whose
    (N_l + 1)^d_in vertices are each an entry when they number at most ``width`` (collision-free), else hashed
    into a table of ``width`` entries (T); their interpolated features, concatenated level after level, feed
    ``layers`` ReLU layers of 64 and a linear output. Parameters: F sum_l min((N_l + 1)^d_in, T) + the MLP's, which
    never decrease as T grows."""

    features = frozenset()

    def __call__(self, d_in: int, width: int, layers: int, d_out: int) -> list[Layer]:
        levels = [GridLevel(min((n + 1) ** d_in, width), FEATURES, grid_values, train_bias=False, resolution=n,
                            dims=d_in, hashed=(n + 1) ** d_in > width) for n in resolutions(d_in)]
        sizes = [LEVELS * FEATURES] + [MLP_WIDTH] * layers
        return levels + [Layer(a, b, relu) for a, b in zip(sizes, sizes[1:])] + [Layer(sizes[-1], d_out, None)]

    def forward(self, net: Ensemble, coords: Tensor, precision: str) -> Tensor:
        gain = net.omegas[0]  # [K, 1, 1]
        features = []
        for i in range(LEVELS):
            level = net.layers[i]
            vertices, weights = corners(coords, level.resolution)
            features.append(interpolate(gain * net.weights[i], level.index(vertices), weights))
        h = torch.cat(features, dim=-1)  # [K, N, L F]
        for i in range(LEVELS, len(net.layers) - 1):
            h = relu(net._linear(i, h, precision, scale=gain), gain)
        return net._linear(len(net.layers) - 1, h, precision, scale=gain)

    def linear_layers(self, net: Ensemble) -> range:
        return range(LEVELS, len(net.layers))

    def macs(self, net: Ensemble) -> int:
        """The interpolation's multiply-adds per point (2^d corners per feature per level) and the MLP's."""
        level = net.layers[0]
        return LEVELS * 2**level.dims * FEATURES + sum(w.shape[1] * w.shape[2] for w in net.weights[LEVELS:])


@register_model(plan=HashGrid())
def hash_grid(m: Member, gain: PositiveFloat = HASH_GAIN) -> dict:
    """Instant-NGP's multiresolution hash encoding (L 16, F 2, N_min 16, growth 1.5; clips 2^(13/15)), features
    U(-1e-4, 1e-4), and a ReLU MLP of width 64 with nn.Linear's init; width: entries per level (T). Every
    parameter stored / gain (default 100: voilalab's rate 1e-2 over SIREN's 1e-4)."""
    for i, layer in enumerate(m.layers):
        if isinstance(layer, GridLevel):
            m.weights[i] = m.uniform(m.weights[i].shape, FEATURE_INIT) / gain
            m.biases[i] = torch.zeros_like(m.biases[i])
        else:  # nn.Linear's default, as voilalab's decoder (instant_ngp.py:29-33)
            m.weights[i] = m.weights[i] / gain
            m.biases[i] = m.biases[i] / gain
    m.omegas = [gain] * len(m.omegas)
    return {}
