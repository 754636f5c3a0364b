"""Multiplicative filter networks (mfn_fourier, mfn_gabor) against the official code, written out here as plain torch.

boschresearch/multiplicative-filter-networks @ 58c3c4d, mfn/mfn.py (MFNBase, FourierLayer, FourierNet, GaborLayer,
GaborNet) and mfn/experiments/image_rep.py (the image settings). Our ``layers`` L is the number of filters; the
official ``n_layers`` is L - 1 (it builds n_layers + 1 filters, mfn.py:79-80, 128-135).
"""

import math
import re

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats
from torch import nn

from bench.analysis.ntk import ntk_matrix
from bench.cli import main
from bench.core.errors import UsageError
from bench.models import (Architecture, Member, MemberSpec, SignalInfo, build_ensemble, parameter_count, parse_model,
                          unsupported, width_for_budget)
from bench.models.mfn import FOURIER, GABOR, gamma_draws
from bench.training import TrainConfig, train
from tests.helpers import one_line_error, run_cli

OFFICIAL_INPUT_SCALE = 256.0  # image_rep.py:81, 91 (and the class default, mfn.py:69, 116)
OFFICIAL_WEIGHT_SCALE = 1.0  # image_rep.py:82, 92 (and mfn.py:70, 117)
OFFICIAL_ALPHA, OFFICIAL_BETA = 6.0, 1.0  # GaborNet's defaults, mfn.py:118-119; image_rep.py keeps them


# ---- the official computation, one network, in plain torch ----

class OfficialFilter(nn.Module):
    """FourierLayer (mfn.py:46-59) or, with ``gabor``, GaborLayer (mfn.py:84-106), built as their __init__ builds
    them: nn.Linear(in, out), its weight times ``weight_scale`` (Gabor: times sqrt(gamma) per row, gamma ~
    Gamma(alpha, beta), mu = 2 rand - 1 drawn before gamma), its bias U(-pi, pi)."""

    def __init__(self, in_features, out_features, weight_scale, gabor, alpha=1.0, beta=1.0):
        super().__init__()
        self.gabor = gabor
        self.linear = nn.Linear(in_features, out_features)
        if gabor:
            self.mu = nn.Parameter(2 * torch.rand(out_features, in_features) - 1)
            self.gamma = nn.Parameter(torch.distributions.gamma.Gamma(alpha, beta).sample((out_features,)))
            self.linear.weight.data *= weight_scale * torch.sqrt(self.gamma[:, None])
        else:
            self.linear.weight.data *= weight_scale
        self.linear.bias.data.uniform_(-np.pi, np.pi)

    def forward(self, x):
        if not self.gabor:
            return torch.sin(self.linear(x))
        D = (x ** 2).sum(-1)[..., None] + (self.mu ** 2).sum(-1)[None, :] - 2 * x @ self.mu.T
        return torch.sin(self.linear(x)) * torch.exp(-0.5 * D * self.gamma[None, :])


class OfficialMFN(nn.Module):
    """MFNBase (mfn.py:7-43) with FourierNet's (62-82) or GaborNet's (109-137) filters: n_layers hidden
    nn.Linear(hidden, hidden) with weights U(+-sqrt(weight_scale / hidden)) and default biases, a default output
    nn.Linear, then n_layers + 1 filters of weight scale input_scale / sqrt(n_layers + 1) (Gabor: alpha /
    (n_layers + 1)); output_act False (the default, and image_rep.py's)."""

    def __init__(self, in_size, hidden_size, out_size, n_layers, gabor, input_scale=OFFICIAL_INPUT_SCALE,
                 weight_scale=OFFICIAL_WEIGHT_SCALE, alpha=OFFICIAL_ALPHA, beta=OFFICIAL_BETA):
        super().__init__()
        self.linear = nn.ModuleList([nn.Linear(hidden_size, hidden_size) for _ in range(n_layers)])
        self.output_linear = nn.Linear(hidden_size, out_size)
        for lin in self.linear:
            lin.weight.data.uniform_(-np.sqrt(weight_scale / hidden_size), np.sqrt(weight_scale / hidden_size))
        self.filters = nn.ModuleList([
            OfficialFilter(in_size, hidden_size, input_scale / np.sqrt(n_layers + 1), gabor, alpha / (n_layers + 1),
                           beta) for _ in range(n_layers + 1)])

    def forward(self, x):
        out = self.filters[0](x)
        for i in range(1, len(self.filters)):
            out = self.filters[i](x) * self.linear[i - 1](out)
        return self.output_linear(out)


# ---- helpers ----

def built(name, info, width=16, layers=3, seeds=(0,)):
    return build_ensemble([MemberSpec(parse_model(name), seed) for seed in seeds],
                          Architecture(info.d_in, width, layers, info.d_out), info)


def copied_into(official, model, k=0):
    """Member k's blocks copied into the official network: per filter its frequencies and phases (Gabor: then
    mu and gamma), then the hidden layers, then the output."""
    w = [p[k] for p in model.weights]
    b = [p[k, 0] for p in model.biases]
    per = 2 if official.filters[0].gabor else 1
    with torch.no_grad():
        for i, f in enumerate(official.filters):
            f.linear.weight.copy_(w[per * i])
            f.linear.bias.copy_(b[per * i])
            if f.gabor:
                f.mu.copy_(w[per * i + 1])
                f.gamma.copy_(b[per * i + 1])
        for j, lin in enumerate(official.linear):
            lin.weight.copy_(w[per * len(official.filters) + j])
            lin.bias.copy_(b[per * len(official.filters) + j])
        official.output_linear.weight.copy_(w[-1])
        official.output_linear.bias.copy_(b[-1])
    return official


def same_draws(ours, theirs, bound=None):
    """A two-sample KS test cannot tell our draws from the official ones; with a bound, both lie within it
    and ours reach it (within 3%)."""
    ours, theirs = ours.detach().flatten().double(), theirs.detach().flatten().double()
    if bound is not None:
        assert ours.abs().max() <= bound * (1 + 1e-6) and theirs.abs().max() <= bound * (1 + 1e-6)
        assert ours.abs().max() >= 0.97 * bound
    assert stats.ks_2samp(ours.numpy(), theirs.numpy()).pvalue > 1e-3


pytestmark = pytest.mark.usefixtures("one_thread")


AUDIO = SignalInfo("audio", d_in=1, d_out=1, centroid=0.3)
IMAGE = SignalInfo("image", d_in=2, d_out=1, centroid=0.3)
SHAPE = SignalInfo("shape", d_in=3, d_out=1, centroid=0.1)


# ---- the network ----

@pytest.mark.parametrize("name", ["mfn_fourier", "mfn_gabor"])
@pytest.mark.parametrize("layers", [1, 3, 4])
def test_a_built_member_computes_the_official_forward(relay_2k, camera_32, name, layers):
    """Both members of an ensemble, their blocks copied into the official FourierNet / GaborNet with n_layers =
    layers - 1, give its outputs on real coordinates, shared [N, d_in] or one copy per member [K, N, d_in]. In
    float64: at audio's input_scale 30000 the filters' phases reach thousands of radians, where float32's
    rounding of x W + b summed in another order (elementwise here, a matmul there) is ~1e-4 rad."""
    for task in (relay_2k, camera_32):
        model, _ = built(name, task.info, width=32, layers=layers, seeds=(0, 1))
        model = model.double()
        x = task.coords[::3].double()
        out = model(x).detach()
        torch.testing.assert_close(model(x.expand(2, -1, -1)).detach(), out, rtol=0, atol=0)
        for k in range(2):
            official = OfficialMFN(task.info.d_in, 32, task.info.d_out, layers - 1, name == "mfn_gabor").double()
            with torch.no_grad():
                theirs = copied_into(official, model, k)(x)
            assert theirs.abs().max() > 0.05  # a network that computes something
            torch.testing.assert_close(out[k], theirs, rtol=1e-9, atol=1e-10)


def test_the_gabor_envelope_matters(camera_32):
    """The comparison can fail: the same blocks with each gamma zeroed (so Fourier filters: exp(0) = 1) give
    another output, officially and against ours."""
    model, _ = built("mfn_gabor", camera_32.info, width=32, layers=3)
    x = camera_32.coords[::3]
    official = copied_into(OfficialMFN(2, 32, 1, 2, gabor=True), model)
    with torch.no_grad():
        gabor = official(x)
        for f in official.filters:
            f.gamma.zero_()  # exp(0) = 1: the Fourier filter
        assert not torch.allclose(model(x)[0].detach(), official(x), atol=1e-3)
        assert not torch.allclose(gabor, official(x), atol=1e-3)


@pytest.mark.parametrize("name, per_filter", [("mfn_fourier", 1), ("mfn_gabor", 2)])
def test_parameter_counts_and_budgets(name, per_filter):
    """L filters of (d_in + 1) H parameters each (Gabor: twice, its centres and gammas), L - 1 hidden layers of
    H^2 + H, the output H d_out + d_out: what the official modules hold; the budget finds the nearest width."""
    for d_in, width, layers in ((1, 64, 3), (2, 256, 4), (3, 10, 1)):
        info = SignalInfo("image", d_in=d_in, d_out=1, centroid=0.3)
        model, _ = build_ensemble([MemberSpec(parse_model(f"{name}:input_scale=10"), 0)],
                                  Architecture(d_in, width, layers, 1), info)
        official = OfficialMFN(d_in, width, 1, layers - 1, gabor=per_filter == 2)
        expected = sum(p.numel() for p in official.parameters())
        assert expected == layers * per_filter * (d_in + 1) * width + (layers - 1) * (width**2 + width) + width + 1
        assert model.member_parameters() == expected
        plan = FOURIER if per_filter == 1 else GABOR
        assert parameter_count(plan(d_in, width, layers, 1)) == expected
    width, count = width_for_budget(parse_model(name), 1, 3, 1, 10_000)
    assert abs(count - 10_000) <= 0.02 * 10_000 and 60 <= width <= 70


def test_bench_list_gives_budget_widths(capsys):
    code, out, _ = run_cli(capsys, "list", "models", "--params", "10000", "--layers", "3")
    assert code == 0
    for name in ("mfn_fourier", "mfn_gabor"):
        line = next(line for line in out.splitlines() if line.startswith(name + " "))
        width = int(line.split("width")[1].split()[0])
        assert abs(parameter_count((FOURIER if name == "mfn_fourier" else GABOR)(1, width, 3, 1)) - 10_000) < 300


# ---- the init ----

@pytest.mark.parametrize("d_in, kind, layers", [(1, "audio", 3), (2, "image", 4), (2, "image", 8)])
def test_fourier_init_draws_what_the_official_init_draws(d_in, kind, layers):
    """Per block, ours against the official network of the same size at the same input_scale (L = 8: a
    deeper scale): frequencies within input_scale / sqrt(L d_in), phases within pi, hidden weights within
    sqrt(1 / H), biases and output nn.Linear's."""
    width, scale = 256, 100.0
    info = SignalInfo(kind, d_in=d_in, d_out=1, centroid=0.3)
    model, used = built(f"mfn_fourier:input_scale={scale}", info, width=width, layers=layers)
    torch.manual_seed(1)
    official = OfficialMFN(d_in, width, 1, layers - 1, gabor=False, input_scale=scale)
    for i, f in enumerate(official.filters):
        same_draws(model.weights[i][0], f.linear.weight, scale / math.sqrt(layers) / math.sqrt(d_in))
        same_draws(model.biases[i][0, 0], f.linear.bias, math.pi)
    for j, lin in enumerate(official.linear):
        same_draws(model.weights[layers + j][0], lin.weight, math.sqrt(1 / width))
        same_draws(model.biases[layers + j][0, 0], lin.bias, 1 / math.sqrt(width))
    same_draws(model.weights[-1][0], official.output_linear.weight, 1 / math.sqrt(width))
    assert used[0] == {"input_scale": scale, "weight_scale": 1.0}
    # the scale is input_scale / sqrt(L), not / sqrt(L + 1): the bound tells them apart
    assert model.weights[0][0].abs().max() > 0.97 * scale / math.sqrt(layers) / math.sqrt(d_in)
    assert model.weights[0][0].abs().max() > scale / math.sqrt(layers + 1) / math.sqrt(d_in)


@pytest.mark.parametrize("d_in, kind, layers", [(1, "audio", 3), (2, "image", 4), (2, "image", 8)])
def test_gabor_init_draws_what_the_official_init_draws(d_in, kind, layers):
    """GaborLayer's blocks: gamma ~ Gamma(alpha / L, beta) (L = 8: concentration 0.75 < 1), centres U(-1, 1),
    frequencies U(+-input_scale / sqrt(L d_in)) sqrt(gamma) (the two-sample test on the frequencies themselves,
    and the bound on them divided by sqrt(gamma)), phases U(-pi, pi); hidden layers as FourierNet's."""
    width, scale = 256, 100.0
    info = SignalInfo(kind, d_in=d_in, d_out=1, centroid=0.3)
    model, used = built(f"mfn_gabor:input_scale={scale}", info, width=width, layers=layers, seeds=(3,))
    torch.manual_seed(1)
    official = OfficialMFN(d_in, width, 1, layers - 1, gabor=True, input_scale=scale)
    ours_gamma = torch.cat([model.biases[2 * i + 1][0, 0] for i in range(layers)])
    theirs_gamma = torch.cat([f.gamma for f in official.filters])
    same_draws(ours_gamma, theirs_gamma)
    exact = stats.gamma(a=OFFICIAL_ALPHA / layers, scale=1 / OFFICIAL_BETA)
    assert stats.kstest(ours_gamma.detach().double().numpy(), exact.cdf).pvalue > 1e-3
    for i, f in enumerate(official.filters):
        omega, gamma = model.weights[2 * i][0], model.biases[2 * i + 1][0, 0]
        same_draws(omega, f.linear.weight)
        bound = scale / math.sqrt(layers) / math.sqrt(d_in)
        same_draws(omega / gamma.sqrt()[:, None], f.linear.weight / f.gamma.sqrt()[:, None], bound)
        same_draws(model.weights[2 * i + 1][0], f.mu, 1.0)
        same_draws(model.biases[2 * i][0, 0], f.linear.bias, math.pi)
    for j, lin in enumerate(official.linear):
        same_draws(model.weights[2 * layers + j][0], lin.weight, math.sqrt(1 / width))
    assert used[0] == {"input_scale": scale, "weight_scale": 1.0, "alpha": 6.0, "beta": 1.0}


@pytest.mark.parametrize("concentration, rate", [(1.5, 1.0), (0.75, 1.0), (6.0, 2.0), (0.2, 0.5)])
def test_gamma_draws_follow_the_gamma_distribution(concentration, rate):
    """Our sampler (from the member's normal and uniform draws) against Gamma(concentration, rate) exactly
    (one-sample KS, 20,000 draws); the same seed draws the same numbers, another seed others."""
    m = Member([], 0, AUDIO)
    draws = gamma_draws(m, 20_000, concentration, rate)
    assert stats.kstest(draws.double().numpy(), stats.gamma(a=concentration, scale=1 / rate).cdf).pvalue > 1e-3
    assert (draws > 0).all()
    assert torch.equal(draws, gamma_draws(Member([], 0, AUDIO), 20_000, concentration, rate))
    assert not torch.equal(draws, gamma_draws(Member([], 1, AUDIO), 20_000, concentration, rate))
    # the test can fail: another concentration is told apart
    assert stats.kstest(draws.double().numpy(), stats.gamma(a=concentration * 1.1, scale=1 / rate).cdf).pvalue < 1e-3


def test_weight_scale_and_alpha_beta_are_the_official_parameters():
    """weight_scale widens the hidden weights to sqrt(weight_scale / H) (mfn.py:27-29); beta is Gamma's rate."""
    model, used = built("mfn_gabor:weight_scale=4,alpha=3,beta=2", IMAGE, width=256, layers=3)
    torch.manual_seed(2)
    official = OfficialMFN(2, 256, 1, 2, gabor=True, weight_scale=4.0, alpha=3.0, beta=2.0)
    same_draws(model.weights[6][0], official.linear[0].weight, math.sqrt(4 / 256))
    same_draws(torch.cat([model.biases[2 * i + 1][0, 0] for i in range(3)]),
               torch.cat([f.gamma for f in official.filters]))
    assert used[0] == {"input_scale": 256.0, "weight_scale": 4.0, "alpha": 3.0, "beta": 2.0}


def test_defaults_per_kind_of_signal():
    """Images the official 256 (image_rep.py:81, 91), shapes the 3-D script's 256 (video_rep.py:76, 84), audio
    ours; a kind without a default is a one-line error naming the parameter."""
    for name in ("mfn_fourier", "mfn_gabor"):
        for info, scale in ((IMAGE, 256.0), (SHAPE, 256.0), (AUDIO, 30000.0)):
            model, used = built(name, info, width=64, layers=3)
            assert used[0]["input_scale"] == scale
            if name == "mfn_fourier":
                assert 0.9 < model.weights[0][0].abs().max() / (scale / math.sqrt(3 * info.d_in)) <= 1
        with pytest.raises(UsageError, match=rf"{name} has no default input_scale for curve signals.*"
                                             rf"{name}:input_scale=VALUE"):
            built(name, SignalInfo("curve", d_in=1, d_out=1, centroid=0.1))


@pytest.mark.parametrize("text, message", [
    ("mfn_gabor:alpha=0", "alpha=0.*must be > 0"),
    ("mfn_fourier:input_scale=-1", "input_scale=-1.*must be > 0"),
    ("mfn_fourier:alpha=6", "alpha"),
])
def test_bad_parameters_are_one_line_usage_errors(capsys, tmp_path, text, message):
    code, _, err = run_cli(capsys, "run", "--model", text, "--task", "audio:relay", "--max-samples", "64",
                           "--steps", "1", "--out", str(tmp_path))
    assert code == 2
    assert re.search(message, one_line_error(err))


# ---- ensembles, features, the command line ----

@pytest.mark.parametrize("name", ["mfn_fourier", "mfn_gabor"])
@pytest.mark.parametrize("threads", [1, 2])
def test_an_ensemble_member_equals_its_lone_run(relay_2k, camera_32, name, threads):
    """Member k of an ensemble of 3 and a lone run of its seed: bit-identical forward, and bit-identical
    weights after two training steps (1 and 2 threads)."""
    torch.set_num_threads(threads)
    for task in (relay_2k, camera_32):
        arch = Architecture.of(task.info, 24, 3)

        def stepped(seeds):
            model, _ = build_ensemble([MemberSpec(parse_model(name), s) for s in seeds], arch, task.info)
            before = model(task.coords).detach()
            train(model, task, TrainConfig(steps=2, lr=1e-3), progress=False)
            return before, [w.detach().clone() for w in (*model.weights, *model.biases)]

        before, after = stepped([5, 6, 7])
        for k, seed in enumerate([5, 6, 7]):
            lone_before, lone_after = stepped([seed])
            assert torch.equal(before[k], lone_before[0])
            assert all(torch.equal(a[k], b[0]) for a, b in zip(after, lone_after)), (name, seed)


@pytest.mark.parametrize("name", ["mfn_fourier", "mfn_gabor"])
def test_features_diagnose_refused_ntk_and_bf16_supported(relay_2k, name):
    """bench diagnose reads chained layers (none here): refused in one line; the NTK is computed (symmetric,
    positive diagonal); bf16 rounds the hidden layers only, so the output moves a little and stays finite."""
    model_choice = parse_model(name)
    arch = Architecture(1, 16, 3, 1)
    assert unsupported([model_choice], arch, "diagnose") == f"{name} builds networks that do not support diagnose"
    assert unsupported([model_choice], arch, "ntk") is None and unsupported([model_choice], arch, "bf16") is None
    model, _ = built(name, relay_2k.info, width=16, layers=3, seeds=(0, 1))
    x = relay_2k.coords[:64]
    kernel = ntk_matrix(model, x)
    assert kernel.shape == (2, 64, 64) and torch.allclose(kernel, kernel.transpose(1, 2))
    assert (kernel.diagonal(dim1=1, dim2=2) > 0).all()
    fp32, bf16 = model(x).detach(), model(x, "bf16").detach()
    assert torch.isfinite(bf16).all() and not torch.equal(fp32, bf16)
    torch.testing.assert_close(bf16, fp32, rtol=0.05, atol=0.05 * fp32.abs().max().item())


def test_bench_diagnose_refuses_in_one_line(capsys, need):
    need("relay")
    code, _, err = run_cli(capsys, "diagnose", "--model", "mfn_gabor", "--task", "audio:relay", "--max-samples",
                           "256", "--width", "8", "--layers", "2", "--seeds", "0")
    assert code == 2
    assert "mfn_gabor builds networks that do not support diagnose; drop that model" in one_line_error(err)


def test_fourier_and_gabor_members_do_not_share_an_ensemble():
    with pytest.raises(UsageError, match="build different networks"):
        build_ensemble([MemberSpec(parse_model("mfn_fourier"), 0), MemberSpec(parse_model("mfn_gabor"), 0)],
                       Architecture(1, 8, 2, 1), AUDIO)


@pytest.mark.parametrize("task, metric", [
    (["audio:relay", "--max-samples", "512"], "snr_db"),
    (["image:camera", "--crop", "32"], "psnr_db"),
])
def test_bench_run_trains_both_models(capsys, tmp_path, need, task, metric):
    need(task[0].split(":")[1])
    code = main(["run", "--model", "mfn_fourier", "--model", "mfn_gabor", "--task", *task, "--steps", "20",
                 "--width", "16", "--layers", "2", "--seeds", "0-1", "--device", "cpu", "--no-progress",
                 "--out", str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    rows = pd.read_parquet(tmp_path)
    assert sorted(rows["model"]) == ["mfn_fourier"] * 2 + ["mfn_gabor"] * 2
    assert (rows["status"] == "ok").all() and np.isfinite(rows[metric]).all()
    scale = 30000.0 if task[0].startswith("audio") else 256.0
    assert (rows["param.input_scale"] == scale).all()
