"""grid and hash_grid against hand computations and the computations of the code they port, written out here.

grid: voilalab/INR-benchmark @ 0463b3f ("Grids Often Outperform Implicit Neural Representations", NeurIPS 2025):
models/grid.py (grid_sample_wrapper, Grid), utils.py:208-228 (TV_Reg), hyperparameters.json and run.py (the rates).
hash_grid: Instant-NGP (Mueller et al. 2022) as NVlabs/tiny-cuda-nn @ 6ee3546 computes it
(include/tiny-cuda-nn/common_device.h: lcg_hash / coherent_prime_hash 767-791, grid_index 847-884; encodings/grid.h:
the feature init, 1076-1079), with the paper's vertex positions (x N_l, where tiny-cuda-nn offsets them by half a cell).
"""

import itertools
import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats
from scipy.interpolate import RegularGridInterpolator
from torch import nn
from torch.nn import functional as F

from bench.analysis.ntk import ntk_matrix
from bench.cli import main
from bench.core.errors import UsageError
from bench.models import Architecture, MemberSpec, SignalInfo, build_ensemble, parameter_count, parse_model
from bench.models.grids import GridLevel, corners, resolutions, spatial_hash
from bench.signals.library import SignalLibrary
from bench.tasks import load_task
from bench.training.step import TrainingStep
from tests.helpers import run_cli

AUDIO = SignalInfo("audio", d_in=1, d_out=1, centroid=0.2)
IMAGE = SignalInfo("image", d_in=2, d_out=1, centroid=0.3)
SHAPE = SignalInfo("shape", d_in=3, d_out=1, centroid=0.1)


# ---- the official computations, in plain torch and numpy ----

def official_grid_sample(grid, coords, interpolation="bilinear"):
    """grid_sample_wrapper (models/grid.py:15-43) for a grid [C, n, n] or [C, n, n, n] and coords [N, d]:
    F.grid_sample with align_corners=True and border padding -> [N, C]. Grid.forward (grid.py:64-68) calls it
    with 'bicubic' in 2-D (its default, grid.py:47, and run.py:59) and 'bilinear' (trilinear) in 3-D (58-59)."""
    d = coords.shape[-1]
    points = coords[None, None] if d == 2 else coords[None, None, None]
    out = F.grid_sample(grid[None], points, mode=interpolation, padding_mode="border", align_corners=True)
    return out.reshape(grid.shape[0], -1).T


def official_tv(grid):
    """TV_Reg (utils.py:208-228) of a grid [C, H, W]."""
    tv_h = (grid[:, 1:, :] - grid[:, :-1, :]) ** 2
    tv_w = (grid[:, :, 1:] - grid[:, :, :-1]) ** 2
    return torch.sqrt(torch.clamp(tv_h[:, :, :-1] + tv_w[:, :-1, :], min=1e-6)).mean()


OFFICIAL_PRIMES = np.array([1, 2654435761, 805459861, 3674653429, 2097192037, 1434869437, 2165219737], dtype=np.uint32)


def official_grid_index(hashed_type, hashmap_size, grid_resolution, pos_grid):
    """grid_index (common_device.h:847-884) with the coherent prime hash (767-779, 787-791), in uint32 arithmetic:
    the dense index (the first axis fastest) where the level's resolution^d vertices fit the table, else the hash;
    then modulo the table size. pos_grid [M, d] (uint32)."""
    pos_grid = pos_grid.astype(np.uint32)
    index = np.zeros(len(pos_grid), dtype=np.uint64)
    stride = 1
    for dim in range(pos_grid.shape[1]):
        index += pos_grid[:, dim].astype(np.uint64) * stride
        stride *= grid_resolution
    if hashed_type and hashmap_size < stride:
        index = np.zeros(len(pos_grid), dtype=np.uint32)
        for dim in range(pos_grid.shape[1]):
            index ^= pos_grid[:, dim] * OFFICIAL_PRIMES[dim]  # wraps around at 2^32
    return index.astype(np.uint64) % np.uint64(hashmap_size)


def paper_resolutions(d_in):
    """N_l = floor(N_min b^l), N_min 16, L 16 (paper, eq. 2-3): b = 1.5 for images and shapes (tiny-cuda-nn's
    data/config_hash.json:19, which voilalab's Instant_NGP reads), exactly in fractions; clips ours, N_max 2^17."""
    if d_in == 1:
        return [math.floor(2 ** (4 + 13 * level / 15)) for level in range(16)]
    return [math.floor(16 * Fraction(3, 2) ** level) for level in range(16)]


def reference_hash_grid(net, k, coords, d_in, table):
    """Member k of a built hash_grid, recomputed in float64 numpy from the paper's definition: per level, the
    point at v = (x + 1) / 2 scaled by N_l, its 2^d corner vertices with multilinear weights, each vertex's entry
    from official_grid_index, the features summed; levels concatenated; then ReLU(W h + b) per hidden layer and
    a linear output, with the member's values (gain x parameter)."""
    gain = net.omegas[0, k].item()
    x = coords.double().numpy()
    features = []
    for level, n in enumerate(paper_resolutions(d_in)):
        values = gain * net.weights[level][k].detach().double().numpy()  # [F, entries]
        entries = min((n + 1) ** d_in, table)
        assert values.shape[1] == entries
        position = np.clip((x + 1) / 2 * n, 0, n)
        low = np.minimum(np.floor(position), n - 1)
        fraction = position - low
        out = np.zeros((len(x), values.shape[0]))
        for corner in itertools.product((0, 1), repeat=d_in):
            weight = np.prod([fraction[:, a] if bit else 1 - fraction[:, a] for a, bit in enumerate(corner)], axis=0)
            index = official_grid_index(True, entries, n + 1, low.astype(np.int64) + np.array(corner))
            out += weight[:, None] * values[:, index.astype(np.int64)].T
        features.append(out)
    h = np.concatenate(features, axis=1)
    for i in range(16, len(net.weights)):
        w = gain * net.weights[i][k].detach().double().numpy()
        b = gain * net.biases[i][k, 0].detach().double().numpy()
        h = h @ w.T + b
        if i < len(net.weights) - 1:
            h = np.maximum(h, 0)
    return h


# ---- helpers ----

def built(name, info, width, layers=2, seeds=(0,)):
    specs = [MemberSpec(parse_model(name), seed) for seed in seeds]
    return build_ensemble(specs, Architecture(info.d_in, width, layers, info.d_out), info)


def set_values(net, values):
    """Give member 0 of a grid these values [C, vertices] (stored / gain)."""
    with torch.no_grad():
        net.weights[0][0] = torch.as_tensor(values, dtype=torch.float32) / net.omegas[0, 0, 0, 0, 0]


def step_all(net, task, optimizer, steps=1):
    """``steps`` training steps as the benchmark takes them (TrainingStep: the task's loss plus the network's
    penalty), the optimizer's step after each."""
    step = TrainingStep(net, task)
    alive = torch.ones(net.size, dtype=torch.bool)
    for _ in range(steps):
        losses, _ = step(None, alive)
        optimizer.step()
    return losses


def random_coords(n, d, seed=0, spread=1.0):
    return (torch.rand(n, d, generator=torch.Generator().manual_seed(seed)) * 2 - 1) * spread


# ---- grid: interpolation ----

def test_grid_interpolates_linearly_in_1d_and_bilinearly_in_2d_as_by_hand():
    """Values at -1, 0, 1 of a 3-point clip grid; a 3 x 3 image grid whose value at vertex (i, j) (i along the
    first coordinate) is 10 i + j, a bilinear function, so its interpolation is 10 u + v at every point; and one
    cell worked out by hand with unrelated corner values."""
    net, _ = built("grid", AUDIO, width=3)
    set_values(net, [[2.0, -1.0, 5.0]])
    x = torch.tensor([[-1.0], [-0.5], [0.0], [0.25], [1.0], [1.5], [-3.0]])
    expected = [2.0, 0.5, -1.0, -1.0 + 0.25 * 6.0, 5.0, 5.0, 2.0]  # outside the box: the border's value
    torch.testing.assert_close(net(x)[0, :, 0], torch.tensor(expected))

    net, _ = built("grid", IMAGE, width=3)
    i, j = np.meshgrid(np.arange(3), np.arange(3), indexing="ij")
    values = np.zeros(9)
    values[i.ravel() + 3 * j.ravel()] = (10 * i + j).ravel()  # entry i + 3 j: the first coordinate fastest
    set_values(net, values[None])
    x = torch.tensor([[-1.0, -1.0], [0.5, -0.5], [0.1, 0.9], [1.0, 1.0], [-0.3, 0.0]])
    u, v = (x[:, 0] + 1), (x[:, 1] + 1)  # in cells: (x + 1) / 2 * 2
    torch.testing.assert_close(net(x)[0, :, 0], 10 * u + v)

    net, _ = built("grid", IMAGE, width=2)  # one cell: corners (-1,-1)=1, (1,-1)=2, (-1,1)=3, (1,1)=7
    set_values(net, [[1.0, 2.0, 3.0, 7.0]])
    # at (0.5, -0.5): fractions 0.75 along the first axis, 0.25 along the second:
    # 0.25*0.75*1 + 0.75*0.75*2 + 0.25*0.25*3 + 0.75*0.25*7 = 0.1875 + 1.125 + 0.1875 + 1.3125 = 2.8125
    torch.testing.assert_close(net(torch.tensor([[0.5, -0.5]]))[0, 0, 0], torch.tensor(2.8125))


def test_grid_matches_grid_sample_and_scipy_in_2d_and_3d():
    """Random values on 5^2 x 3 channels and 4^3 grids against F.grid_sample(align_corners=True, border), as the
    authors' grid_sample_wrapper calls it (bilinear; trilinear in 3-D), and against scipy's
    RegularGridInterpolator (linear), points inside and outside the box. The authors' 2-D default, bicubic,
    differs (our departure: docs/methods.md)."""
    generator = torch.Generator().manual_seed(3)
    for d, side, channels in ((2, 5, 3), (3, 4, 1)):
        info = SignalInfo("image" if d == 2 else "shape", d_in=d, d_out=channels, centroid=0.2)
        net, _ = built("grid", info, width=side)
        values = torch.randn(channels, side**d, generator=generator)
        set_values(net, values)
        x = torch.cat([random_coords(200, d, seed=d), random_coords(20, d, seed=9, spread=1.5)])
        ours = net(x)[0].detach()
        grid = values.reshape(channels, *[side] * d)  # [C, ..., n(axis 1), n(axis 0)]: grid_sample's layout
        torch.testing.assert_close(ours, official_grid_sample(grid, x), rtol=1e-5, atol=1e-5)
        axes = [np.linspace(-1, 1, side)] * d
        inside = x.abs().max(dim=1).values <= 1
        for c in range(channels):
            table = values[c].reshape(*[side] * d).numpy().transpose(*reversed(range(d)))  # axis 0 first
            scipy_values = RegularGridInterpolator(axes, table)(x[inside].double().numpy())
            np.testing.assert_allclose(ours[inside, c].numpy(), scipy_values, rtol=1e-5, atol=1e-5)
        if d == 2:
            assert not torch.allclose(ours, official_grid_sample(grid, x, "bicubic"), atol=1e-3)


def test_grid_derivative_is_the_slope_of_its_cell():
    """A derivative task differentiates the output with respect to each member's own copy of the coordinates:
    inside a cell of a clip grid the slope is the difference of its two values over the cell's width."""
    net, _ = built("grid", AUDIO, width=5, seeds=(0, 1))
    values = torch.tensor([0.0, 1.0, -1.0, 2.0, 2.5])
    with torch.no_grad():
        net.weights[0][:] = values / net.omegas[0, 0, 0, 0, 0]
    x = torch.tensor([[-0.9], [-0.2], [0.3], [0.8]]).expand(2, -1, -1).clone().requires_grad_(True)
    out = net(x)
    (grad,) = torch.autograd.grad(out.sum(), x)
    cells = [0, 1, 2, 3]
    slopes = torch.tensor([(values[c + 1] - values[c]) / 0.5 for c in cells])
    torch.testing.assert_close(grad[0, :, 0], slopes)
    torch.testing.assert_close(out[1], net(x[0].detach())[1])  # each member's copy gives the shared result


# ---- grid: total variation ----

def test_tv_is_twice_the_authors_term_on_values_mapped_to_minus_one_one():
    """Ours of 2 v - 1 (a target in [0, 1] mapped to [-1, 1]) is exactly twice TV_Reg of v (utils.py:208-228),
    flat regions (the 1e-6 clamp) included; and its weight is per member (0: no penalty)."""
    generator = torch.Generator().manual_seed(1)
    side = 6
    theirs = torch.rand(2, side, side, generator=generator)
    theirs[:, :3, :3] = 0.5  # a flat corner, where the clamp acts
    spec = [MemberSpec(parse_model("grid:tv=0.3"), 0), MemberSpec(parse_model("grid"), 0)]
    net, _ = build_ensemble(spec, Architecture(2, side, 1, 2), SignalInfo("image", 2, 2, 0.3))
    with torch.no_grad():
        net.weights[0][:] = (2 * theirs - 1).reshape(2, -1) / net.omegas[0, 0, 0, 0, 0]
    penalty = net.penalty()
    torch.testing.assert_close(penalty[0], 0.3 * 2 * official_tv(theirs), rtol=1e-6, atol=0)
    assert penalty[1] == 0


def test_tv_in_1d_and_3d_is_its_definition():
    """Per cell, at its lower vertex: sqrt(max(sum over axes of the squared forward difference, 4e-6)), averaged
    over channels and the (n - 1)^d cells; computed here with numpy loops."""
    rng = np.random.default_rng(0)
    for info, side in ((AUDIO, 7), (SHAPE, 4)):
        d = info.d_in
        net, _ = built("grid:tv=1", info, width=side)
        values = rng.normal(size=side**d)
        values[:side] = 0.0  # a flat stretch
        set_values(net, values[None])
        grid = values.reshape(*[side] * d)  # axis a of the array is coordinate d - 1 - a
        terms = []
        for cell in itertools.product(range(side - 1), repeat=d):
            squares = 0.0
            for axis in range(d):
                step = list(cell)
                step[axis] += 1
                squares += (grid[tuple(step)] - grid[cell]) ** 2
            terms.append(math.sqrt(max(squares, 4e-6)))
        assert net.penalty().item() == pytest.approx(np.mean(terms), rel=1e-5)


# ---- grid: training at the authors' rate ----

def test_grid_trains_as_the_authors_grid_on_the_mapped_target(camera_32):
    """Five steps of our grid (lr 1e-4, gain 2000, tv 0.02, targets in [-1, 1]) track five of the authors' Grid
    (Adam 0.1, run.py:198 with hyperparameters.json:27; init 0.1, grid.py:55; TV weight 0.01, their first image
    weight, run_DIV2K.py:140) on the same image in [0, 1], bilinear: ours stays 2 v - 1 of theirs. Adam's
    epsilon, scaled differently in the two, accounts for the tolerance; a gain of 1000 (the bare ratio of the
    rates) is told apart."""
    side = 12
    coords, target = camera_32.coords, camera_32.target

    official = torch.full((1, side, side), 0.1, requires_grad=True)
    optimizer = torch.optim.Adam([official], lr=0.1)
    for _ in range(5):
        loss = F.mse_loss(official_grid_sample(official, coords)[:, 0], (target[:, 0] + 1) / 2)
        loss = loss + 0.01 * official_tv(official)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    expected = 2 * official.detach().reshape(-1) - 1

    for gain, close in ((2000.0, True), (1000.0, False)):
        net, used = built(f"grid:tv=0.02,gain={gain}", camera_32.info, width=side)
        assert used[0]["fill"] == -0.8
        step_all(net, camera_32, torch.optim.Adam(net.parameters(), lr=1e-4), steps=5)
        ours = (net.omegas[0, 0, 0, 0, 0] * net.weights[0][0, 0]).detach()
        assert torch.allclose(ours, expected, atol=2e-3) == close


# ---- hash_grid ----

def test_resolutions_are_the_papers_with_voilalabs_growth():
    assert resolutions(2) == resolutions(3) == paper_resolutions(2)
    assert resolutions(2)[:6] == [16, 24, 36, 54, 81, 121] and resolutions(2)[-1] == 7006
    assert resolutions(1) == paper_resolutions(1) and resolutions(1)[0] == 16 and resolutions(1)[-1] == 2**17


@pytest.mark.parametrize("d_in, table", [(1, 200), (2, 3000), (3, 5000), (2, 1 << 14)])
def test_dense_levels_index_every_vertex_once_and_hashed_levels_stay_in_their_table(d_in, table):
    """A level whose (N_l + 1)^d vertices fit T holds exactly that many entries, each vertex its own (a
    permutation: collision-free); a larger one holds T entries and hashes into them. Both index as tiny-cuda-nn's
    grid_index does."""
    layers = Architecture(d_in, table, 1, 1).layers_of(parse_model("hash_grid").entry.meta["plan"])
    levels = layers[:16]
    dense = [level for level in levels if not level.hashed]
    assert dense and len(dense) < 16 and all(isinstance(level, GridLevel) for level in levels)
    for level, n in zip(levels, paper_resolutions(d_in)):
        assert level.resolution == n and level.fan_out == 2 and not level.train_bias
        vertices = (n + 1) ** d_in
        assert level.hashed == (vertices > table) and level.fan_in == min(vertices, table)
        if level.hashed:
            pos = np.random.default_rng(n).integers(0, n + 1, size=(4096, d_in))
        else:
            pos = np.array(list(itertools.product(range(n + 1), repeat=d_in)))
        index = level.index(torch.from_numpy(pos))
        assert index.min() >= 0 and index.max() < level.fan_in
        np.testing.assert_array_equal(index.numpy(), official_grid_index(True, level.fan_in, n + 1, pos).astype(np.int64))
        if not level.hashed:
            assert sorted(index.tolist()) == list(range(level.fan_in))


def test_spatial_hash_is_tiny_cuda_nns_coherent_prime_hash():
    """XOR of v_k pi_k in uint32 (primes 1, 2654435761, 805459861, ...; common_device.h:788-791), modulo the table,
    for vertices up to 2^20 in 1 to 7 dimensions and tables of powers of two and not; 1-D is v mod T."""
    rng = np.random.default_rng(0)
    for d in range(1, 8):
        pos = rng.integers(0, 1 << 20, size=(2000, d), dtype=np.int64)
        for size in (1 << 14, 1 << 19, 3455, 1):
            expected = np.zeros(len(pos), dtype=np.uint32)
            for k in range(d):
                expected ^= pos[:, k].astype(np.uint32) * OFFICIAL_PRIMES[k]
            np.testing.assert_array_equal(spatial_hash(torch.from_numpy(pos), size).numpy(),
                                          (expected % np.uint32(size)).astype(np.int64))
    assert spatial_hash(torch.tensor([[5]]), 4).item() == 1
    assert spatial_hash(torch.tensor([[1, 1]]), 1 << 32).item() == 1 ^ 2654435761


def test_interpolation_weights_sum_to_one_and_are_products_of_fractions():
    for d in (1, 2, 3):
        x = torch.cat([random_coords(500, d, seed=d), random_coords(50, d, seed=7, spread=1.3),
                       torch.ones(1, d), -torch.ones(1, d)])
        for resolution in (1, 16, 121, 7006):
            vertices, weights = corners(x, resolution)
            torch.testing.assert_close(weights.sum(dim=0), torch.ones(len(x)), rtol=0, atol=1e-6)
            assert (weights >= 0).all() and vertices.min() >= 0 and vertices.max() <= resolution
            position = ((x.double() + 1) / 2 * resolution).clamp(0, resolution)  # in float64, as ours
            fraction = position - vertices[0]
            assert (fraction >= 0).all() and (fraction <= 1).all()
            # corner 2^d - 1 is the upper vertex along every axis: its weight the product of the fractions
            torch.testing.assert_close(weights[-1], fraction.float().prod(dim=1))


@pytest.mark.parametrize("info, table", [(AUDIO, 300), (IMAGE, 700), (SHAPE, 900)])
def test_a_built_hash_grid_computes_the_paper_encoding_and_mlp(info, table):
    """Both members of an ensemble against the float64 recomputation from the paper's definition and
    tiny-cuda-nn's indexing (reference_hash_grid), on points inside and outside the box; its MLP has ``layers``
    ReLU layers of 64 on the 32 concatenated features."""
    net, _ = built("hash_grid", info, width=table, layers=2, seeds=(0, 1))
    with torch.no_grad():  # features of a size that shows in the output (at init they are 1e-4)
        for i in range(16):
            net.weights[i].normal_(0, 1 / net.omegas[0, 0].item(), generator=torch.Generator().manual_seed(i))
    assert [w.shape[1:] for w in net.weights[16:]] == [(64, 32), (64, 64), (1, 64)]
    x = torch.cat([random_coords(300, info.d_in, seed=1), random_coords(30, info.d_in, seed=2, spread=1.2)])
    out = net(x).detach()
    for k in range(2):
        np.testing.assert_allclose(out[k].double().numpy(), reference_hash_grid(net, k, x, info.d_in, table),
                                   rtol=1e-4, atol=1e-5)


def test_hash_grid_init_features_uniform_1e4_and_mlp_nn_linear():
    """Values (gain x parameter): every level's features U(-1e-4, 1e-4) (grid.h:1076-1079), the MLP nn.Linear's
    default (voilalab's decoder, instant_ngp.py:29-33): bounds and KS tests against torch's own draws, and a
    KS test that tells the features from U(-1e-3, 1e-3)."""
    net, used = built("hash_grid", IMAGE, width=4096, layers=2)
    assert used[0] == {"gain": 100.0}
    gain = net.omegas[:, 0].flatten()
    assert gain.tolist() == [100.0] * (16 + 2)
    features = torch.cat([100.0 * w[0].flatten() for w in net.weights[:16]]).detach().double()
    assert features.abs().max() <= 1e-4 and features.abs().max() > 0.999e-4
    assert stats.kstest(features.numpy(), stats.uniform(-1e-4, 2e-4).cdf).pvalue > 1e-3
    assert stats.kstest(features.numpy(), stats.uniform(-1e-3, 2e-3).cdf).pvalue < 1e-10
    torch.manual_seed(0)
    for i, fan_in in zip(range(16, 19), (32, 64, 64)):
        reference = nn.Linear(fan_in, net.weights[i].shape[1])
        for ours, theirs in ((net.weights[i][0], reference.weight), (net.biases[i][0, 0], reference.bias)):
            ours = (100.0 * ours).detach().flatten().double()
            assert ours.abs().max() <= 1 / math.sqrt(fan_in)
            assert stats.ks_2samp(ours.numpy(), theirs.detach().flatten().double().numpy()).pvalue > 1e-3
    assert all((b == 0).all() and not b.requires_grad for b in net.biases[:16])


def test_the_first_adam_step_moves_values_by_gain_times_lr(camera_32):
    """Adam's first step moves a parameter with gradient g by lr |g| / (|g| + 1e-8), about lr, so its value by
    about gain x lr: 0.2 for the grid and 0.01 for the hash grid's features and weights at lr 1e-4 (the authors'
    rates, 0.1 on [0, 1] targets and 1e-2)."""
    for name, width, moved, most in (("grid", 12, 0.2, True), ("hash_grid", 64, 0.01, True),
                                     ("hash_grid:gain=7", 64, 7e-4, False)):  # a low gain: epsilon shows
        net, _ = built(name, camera_32.info, width=width)
        gain = net.omegas[0].flatten()[0].item()
        params = list(net.weights) + list(net.biases)
        before = [p.detach().clone() for p in params]
        step_all(net, camera_32, torch.optim.Adam(net.parameters(), lr=1e-4))
        changes = []
        for old, p in zip(before, params):
            if not p.requires_grad:
                continue
            change = gain * (p.detach() - old).abs().double()
            g = p.grad.abs().double()
            torch.testing.assert_close(change, moved * g / (g + 1e-8), rtol=1e-4, atol=1e-7 * moved)
            changes.append(change.flatten())
        changes = torch.cat(changes)
        assert ((changes > 0.99 * moved).double().mean() > 0.5) == most


# ---- both ----

@pytest.mark.parametrize("models, width", [
    (["grid", "grid:tv=0.05", "grid:gain=500,fill=0.3"], 9),
    (["hash_grid", "hash_grid:gain=10", "hash_grid"], 40),
])
def test_ensemble_members_equal_lone_members_forward_and_one_step(camera_32, models, width):
    """Three members in one ensemble against each alone: bit-identical outputs, and after one training step
    (the penalty included) bit-identical parameters."""
    specs = [MemberSpec(parse_model(model), seed) for seed, model in enumerate(models)]
    arch = Architecture(2, width, 2, 1)
    together, _ = build_ensemble(specs, arch, camera_32.info)
    x = camera_32.coords
    out = together(x).detach()
    step_all(together, camera_32, torch.optim.Adam(together.parameters(), lr=1e-4))
    for k, spec in enumerate(specs):
        alone, _ = build_ensemble([spec], arch, camera_32.info)
        assert torch.equal(out[k], alone(x)[0].detach())
        step_all(alone, camera_32, torch.optim.Adam(alone.parameters(), lr=1e-4))
        for a, b in zip(together.parameters(), alone.parameters()):
            assert torch.equal(a[k], b[0])


def test_parameter_counts_by_hand():
    """grid: width^d_in x d_out; hash_grid: F sum_l min((N_l + 1)^d, T) + the MLP's weights and biases; what a
    built member trains is what the budget counts; counts never decrease with the width."""
    for info, width in ((AUDIO, 300), (IMAGE, 17), (SignalInfo("image", 2, 3, 0.3), 31), (SHAPE, 9)):
        net, _ = built("grid", info, width=width, layers=4)
        assert net.member_parameters() == parameter_count(net.layers) == width**info.d_in * info.d_out
    for info, table, layers in ((AUDIO, 500, 1), (SignalInfo("image", 2, 3, 0.3), 3455, 2), (SHAPE, 2000, 3)):
        net, _ = built("hash_grid", info, width=table, layers=layers)
        entries = sum(min((n + 1) ** info.d_in, table) for n in paper_resolutions(info.d_in))
        mlp = (32 * 64 + 64) + (layers - 1) * (64 * 64 + 64) + (64 * info.d_out + info.d_out)
        assert net.member_parameters() == parameter_count(net.layers) == 2 * entries + mlp
    assert built("hash_grid", SignalInfo("image", 2, 3, 0.3), 3455)[0].member_parameters() == 100_003
    for name in ("grid", "hash_grid"):
        plan = parse_model(name).entry.meta["plan"]
        for d_in in (1, 2, 3):
            counts = [parameter_count(plan(d_in, width, 2, 1)) for width in range(1, 3000, 7)]
            assert counts == sorted(counts)


def test_bench_list_sizes_grids_for_a_budget(capsys):
    """bench list models --params 10000 --layers 3: the grid's width is the points per axis (10,000 on a clip,
    100 per side on an image, 58 for 3 channels: 58^2 x 3 = 10,092 against 57^2 x 3 = 9,747); the hash grid's
    MLP of three layers of 64 alone holds 10,497 (10,627 for 3 outputs), so its table shrinks to 1 entry per level."""
    for extra, grid_line, hash_line in (
            ([], "grid               width 10000  10,000 parameters", "hash_grid          width 1      10,529"),
            (["--d-in", "2"], "grid               width 100    10,000 parameters", "hash_grid          width 1      10,529"),
            (["--d-in", "2", "--d-out", "3"], "grid               width 58     10,092", "hash_grid          width 1      10,659")):
        code, out, _ = run_cli(capsys, "list", "models", "--params", "10000", "--layers", "3", *extra)
        assert code == 0 and grid_line in out and hash_line in out
    code, out, _ = run_cli(capsys, "list", "models", "--params", "100000", "--layers", "2", "--d-in", "2",
                           "--d-out", "3")
    assert "hash_grid          width 3455   100,003 parameters" in out


def test_ntk_of_both_is_the_jacobian_product():
    """bench.analysis.ntk (torch.func over the members) against J J^T / M^2 by autograd, per member: the kernel
    of the trained parameters (values / gain)."""
    x = torch.linspace(-1, 1, 7)[:, None]
    for name, width in (("grid", 9), ("hash_grid", 32)):
        net, _ = built(name, AUDIO, width=width, seeds=(0, 1))
        kernel = ntk_matrix(net, x)
        params = [p for p in net.parameters() if p.requires_grad]
        for k in range(2):
            rows = [torch.cat([g[k].flatten() for g in torch.autograd.grad(net(x[i:i + 1])[k].mean(), params)])
                    for i in range(len(x))]
            jacobian = torch.stack(rows).double()
            torch.testing.assert_close(kernel[k], jacobian @ jacobian.T / len(x) ** 2, rtol=1e-5, atol=1e-12)
            assert kernel[k].abs().max() > 0


def test_bad_settings_are_one_line_usage_errors():
    with pytest.raises(UsageError, match=r"grid needs at least 2 points per axis; give --width 2 or more"):
        built("grid", IMAGE, width=1)
    with pytest.raises(UsageError, match=r"tv=-1 .*must be >= 0"):
        parse_model("grid:tv=-1")
    with pytest.raises(UsageError, match=r"gain=0 .*must be > 0"):
        parse_model("hash_grid:gain=0")
    curve = SignalInfo("curve", d_in=1, d_out=1, centroid=0.1)
    with pytest.raises(UsageError, match=r"grid has no default fill for curve signals.*grid:fill=VALUE"):
        built("grid", curve, width=4)
    _, used = built("grid:fill=0.25", curve, width=4)
    assert used[0]["fill"] == 0.25
    assert built("hash_grid", curve, width=16)[1] == [{"gain": 100.0}]


# ---- end to end ----

@pytest.mark.parametrize("model", ["grid", "hash_grid"])
def test_bench_run_trains_both_on_an_image_and_a_clip(capsys, tmp_path, need, model):
    need("camera", "relay")
    for task, metric in ((["image:camera", "--crop", "32"], "psnr_db"),
                         (["audio:relay", "--max-samples", "512"], "snr_db")):
        out = tmp_path / task[0].replace(":", "_")
        code = main(["run", "--model", model, "--task", *task, "--steps", "20", "--width", "16", "--layers", "2",
                     "--seeds", "0-1", "--device", "cpu", "--no-progress", "--out", str(out)])
        assert code == 0, capsys.readouterr().err
        rows = pd.read_parquet(out)
        assert len(rows) == 2 and (rows["status"] == "ok").all() and rows[metric].map(math.isfinite).all()
        assert (rows["model"] == model).all()


@pytest.mark.parametrize("model, width", [("grid", 16), ("hash_grid", 256)])
def test_an_image_fits_better_than_a_constant_after_50_steps(capsys, tmp_path, need, model, width):
    """At the benchmark's lr 1e-4 the gains make these the authors' high rates (0.2 and 0.01 per step): 50 steps
    on cameraman at 32 x 32 beat the best constant (the mean) by 8 dB."""
    need("camera")
    code = main(["run", "--model", model, "--task", "image:camera", "--side", "32", "--steps", "50", "--width",
                 str(width), "--layers", "2", "--seeds", "0", "--device", "cpu", "--no-progress", "--out",
                 str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    row = pd.read_parquet(tmp_path).iloc[0]
    target = load_task("image:camera", SignalLibrary(), {"side": 32}).target
    constant = 10 * math.log10(4 / float(((target - target.mean()) ** 2).mean()))
    assert row["psnr_db"] > constant + 8


def test_a_lone_member_measures_only_its_linear_layers(camera_32, monkeypatch):
    """A lone member's training step checks its matmul layers for the ensemble's gradient path
    (Ensemble.as_in_an_ensemble); the gathered tables are not matmuls, and measuring them as one would take
    points x entries floats, so only the hash grid's MLP is measured and nothing of the dense grid."""
    from bench.models import ensemble
    measured = []
    real = ensemble.lone_path_differs
    monkeypatch.setattr(ensemble, "lone_path_differs", lambda *args: measured.append(args[1:3]) or real(*args))
    for name, width, expected in (("grid", 12, []), ("hash_grid", 300, [(32, 64), (64, 64), (64, 1)])):
        measured.clear()
        net, _ = built(name, camera_32.info, width=width)
        step_all(net, camera_32, torch.optim.Adam(net.parameters(), lr=1e-4))
        assert measured == expected
