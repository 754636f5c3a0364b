"""SPDER and sinc against the computations of the code they port, written out here as plain torch.

SPDER: katop1234/SPDER @ 9360ec5dc40a95b6e2fd882269a05c1040173324 (its .py files are unchanged at the later
763aaed0ada2d0761d40e229aaca712f985d0854, which edits only the README).
sinc: the reimplementation in FLAIR, CMLab-Korea/CVPRF26-FLAIR @ 60bf840a62abdb4db28bcf2a51cd4176131a3c10
(the ECCV 2024 authors published no code).
"""

import math

import pandas as pd
import pytest
import torch
from scipy import stats
from torch import nn

from bench.analysis.diagnostics import layer_activations
from bench.cli import main
from bench.core.errors import UsageError
from bench.models import Architecture, MemberSpec, SignalInfo, build_ensemble, parse_model
from bench.models.sinc import sinc_activation
from bench.models.spder import spder_activation

SPDER_OMEGA_0 = 30.0  # SPDER_audio.py:71 and SPDER_image_batched.py:104, every layer


# ---- the official computations, one network of one member, in plain torch ----

def official_spder_image_activation(x):
    """SPDER_image_batched.py:106-108 (version "SPDER"): sin(x) times the square root of max(|x|, 1e-43)."""
    floor = torch.tensor(1e-43, requires_grad=True)
    return torch.sin(x) * torch.maximum(x.abs(), floor).sqrt()


def official_spder_audio_activation(x):
    """SPDER_audio.py:48-51 (version "SPDER"; the square-root line 50 is commented out): sin(x) arctan(x)."""
    return torch.sin(x) * torch.atan(x)


def official_spder_network(d_in, width, layers, d_out, omega_0=SPDER_OMEGA_0):
    """SPDER_Network (SPDER_audio.py:216-247): an is_first SPDERLayer, then ``hidden_layers`` SPDERLayers
    (our ``layers`` - 1), then a plain nn.Linear. SPDERLayer.init_weights (198-206): the first layer's weights
    U(-1/in, 1/in), the others U(+-sqrt(6/in)/omega_0); the output layer likewise (240-243); biases keep
    nn.Linear's default."""
    sizes = [d_in] + [width] * layers
    linears = [nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])] + [nn.Linear(width, d_out)]
    with torch.no_grad():
        for i, linear in enumerate(linears):
            fan_in = linear.in_features
            bound = 1 / fan_in if i == 0 else math.sqrt(6 / fan_in) / omega_0
            linear.weight.uniform_(-bound, bound)
    return linears


def official_spder_forward(linears, activation, x, omega_0=SPDER_OMEGA_0):
    """SPDERLayer.forward (SPDER_audio.py:208-214): activation(omega_0 * linear(x)); the last layer is linear."""
    for linear in linears[:-1]:
        x = activation(omega_0 * linear(x))
    return linears[-1](x)


def official_sinc_block(x, T):
    """FLAIR modules/sinc.py:34-38, SincBlock.forward after its linear layer: torch.sinc(x / T) / T."""
    return torch.sinc(x / T) / T


def official_sinc_network(d_in, width, layers, d_out):
    """FLAIR modules/sinc.py:59-72 and 95-118: INR(hidden_layers=L) builds L SincBlocks (nn.Linear at its
    default init, modules/sinc.py:30) and a final nn.Linear; the scripts' init_type 'default' keeps those
    (tasks/fitting.py:111-114, 165-166)."""
    sizes = [d_in] + [width] * layers
    return [nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])] + [nn.Linear(width, d_out)]


def official_sinc_forward(linears, x, T):
    """SincNetwork.forward (modules/sinc.py:74-80) up to the final linear layer; FLAIR then applies a sigmoid
    (line 79), which this port leaves out (its targets are in [-1, 1])."""
    for linear in linears[:-1]:
        x = official_sinc_block(linear(x), T)
    return linears[-1](x.real)


# ---- helpers ----

def built(name, task, width=16, layers=3, seeds=(0,)):
    model, used = build_ensemble([MemberSpec(parse_model(name), seed) for seed in seeds],
                                 Architecture(task.info.d_in, width, layers, task.info.d_out), task.info)
    return model, used


def copied_into(linears, model, k=0):
    """Member k's weights and biases copied into plain nn.Linear layers."""
    with torch.no_grad():
        for linear, w, b in zip(linears, model.weights, model.biases):
            linear.weight.copy_(w[k])
            linear.bias.copy_(b[k, 0])
    return linears


def value_and_grad(fn, x):
    x = x.detach().clone().requires_grad_(True)
    y = fn(x)
    (grad,) = torch.autograd.grad(y.sum(), x)
    return y.detach(), grad


def real_pre_activations(model, coords):
    """omega z of every hidden layer of member 0 on real coordinates, and a few exact zeros and tiny values."""
    first = model.omegas[:, 0, 0, 0]
    first = first[..., 0] if first.dim() == 2 else first
    values = [omega * z[0].flatten() for omega, (z, _) in zip(first, model.hidden_layers(coords))]
    specials = torch.tensor([0.0, -0.0, 1e-45, -1e-45, 1e-30, -3e-8, 1e-43])
    return torch.cat(values + [specials]).detach()


# ---- SPDER ----

def test_spder_activations_match_the_official_ones_in_value_and_gradient(relay_2k, camera_32):
    """Ours at (w0, damping) against SPDER_image_batched.py:108 and SPDER_audio.py:51 at x = w0 z, on the
    pre-activations of real signals plus exact zeros (where the square root's floor keeps the gradient finite)."""
    for task, damping, official in ((camera_32, "sqrt", official_spder_image_activation),
                                    (relay_2k, "arctan", official_spder_audio_activation)):
        model, used = built("spder", task)
        assert used[0]["damping"] == damping
        x = real_pre_activations(model, task.coords[::5])
        code = 1.0 if damping == "arctan" else 0.0
        for w0 in (30.0, 1.0, 7.5):
            omega = torch.tensor([w0, code])
            ours, ours_grad = value_and_grad(lambda z: spder_activation(z, omega), x / w0)
            theirs, theirs_grad = value_and_grad(official, x)
            torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(ours_grad, theirs_grad * w0, rtol=1e-4, atol=1e-5)  # d/dz = w0 d/dx
            assert torch.isfinite(ours_grad).all()
        assert not torch.allclose(ours, official_spder_audio_activation(x) if code == 0 else
                                  official_spder_image_activation(x))  # the two dampings do differ here


@pytest.mark.parametrize("damping", [None, "sqrt", "arctan"])
def test_a_built_spder_member_computes_the_official_forward(relay_2k, camera_32, damping):
    """Both members of an ensemble, with their own weights copied into the official SPDER_Network, give the
    same outputs on real coordinates (the default damping is each kind's official one)."""
    spec = "spder" if damping is None else f"spder:damping={damping}"
    for task in (relay_2k, camera_32):
        model, used = built(spec, task, width=32, layers=3, seeds=(0, 1))
        chosen = used[0]["damping"]
        assert chosen == (damping or ("arctan" if task is relay_2k else "sqrt"))
        official = official_spder_audio_activation if chosen == "arctan" else official_spder_image_activation
        x = task.coords[::3]
        out = model(x).detach()
        for k in range(2):
            linears = copied_into(official_spder_network(task.info.d_in, 32, 3, task.info.d_out), model, k)
            with torch.no_grad():
                torch.testing.assert_close(out[k], official_spder_forward(linears, official, x), rtol=1e-4,
                                           atol=1e-5)


def same_draws(ours, theirs, bound):
    """Our draws and the official ones both within bound; where there are enough of them: ours reach it
    (within 2%), and a two-sample KS test cannot tell the two apart (stds within 3% for large layers)."""
    ours, theirs = ours.detach().flatten().double(), theirs.detach().flatten().double()
    assert ours.abs().max() <= bound and theirs.abs().max() <= bound
    if ours.numel() >= 256:
        assert ours.abs().max() >= 0.98 * bound
        assert stats.ks_2samp(ours.numpy(), theirs.numpy()).pvalue > 1e-3
    if ours.numel() > 1000:
        assert ours.std().item() == pytest.approx(theirs.std().item(), rel=0.03)


def test_spder_init_draws_what_the_official_init_draws():
    """Per layer, our weights and biases against those of the official network of the same size (its bounds:
    SPDER_audio.py:198-206 and 240-243, biases nn.Linear's); the KS test does tell our hidden weights from
    nn.Linear's default draws (the comparison can fail)."""
    width, layers = 256, 3
    for d_in, kind in ((1, "audio"), (2, "image")):
        info = SignalInfo(kind, d_in=d_in, d_out=1, centroid=0.3)
        model, _ = build_ensemble([MemberSpec(parse_model("spder"), 0)], Architecture(d_in, width, layers, 1), info)
        torch.manual_seed(1)
        official = official_spder_network(d_in, width, layers, 1)
        for i, linear in enumerate(official):
            fan_in = linear.in_features
            same_draws(model.weights[i][0], linear.weight, 1 / fan_in if i == 0 else math.sqrt(6 / fan_in) / 30)
            same_draws(model.biases[i][0, 0], linear.bias, 1 / math.sqrt(fan_in))
        default = nn.Linear(width, width).weight.detach().flatten().numpy()  # PyTorch's default
        assert stats.ks_2samp(model.weights[1][0].detach().flatten().numpy(), default).pvalue < 1e-10
    assert model.omegas[:, 0, 0, 0].tolist() == [[30.0, 0.0]] * layers  # image: w0 = 30 everywhere, sqrt


def test_spder_defaults_per_kind_and_given_values(relay_2k, camera_32):
    _, used = built("spder", relay_2k)
    assert used[0] == {"w0": 30.0, "w0_first": 30.0, "damping": "arctan"}  # SPDER_audio.py:51, 71
    _, used = built("spder", camera_32)
    assert used[0]["damping"] == "sqrt"  # SPDER_image_batched.py:108
    model, used = built("spder:damping=sqrt,w0_first=3000", relay_2k)
    assert used[0]["damping"] == "sqrt" and model.omegas[:, 0, 0, 0].tolist() == [[3000.0, 0.0]] + [[30.0, 0.0]] * 2
    shape = SignalInfo("shape", d_in=3, d_out=1, centroid=0.1)  # no official 3-D run: the image damping (ours)
    _, used = build_ensemble([MemberSpec(parse_model("spder"), 0)], Architecture(3, 8, 2, 1), shape)
    assert used[0]["damping"] == "sqrt"
    curve = SignalInfo("curve", d_in=1, d_out=1, centroid=0.1)
    with pytest.raises(UsageError, match=r"spder has no default damping for curve signals.*spder:damping=VALUE"):
        build_ensemble([MemberSpec(parse_model("spder"), 0)], Architecture(1, 8, 2, 1), curve)
    with pytest.raises(UsageError, match=r"damping=tanh.*must be one of sqrt, arctan"):
        parse_model("spder:damping=tanh")


def test_members_of_both_dampings_share_an_ensemble_and_each_trains_as_alone(relay_2k):
    """The damping is per member (the second number of omega): in one ensemble each member computes what it
    computes alone."""
    specs = [MemberSpec(parse_model("spder:damping=arctan"), 0), MemberSpec(parse_model("spder:damping=sqrt"), 0)]
    arch = Architecture(1, 16, 2, 1)
    both, _ = build_ensemble(specs, arch, relay_2k.info)
    x = relay_2k.coords[::4]
    for k, spec in enumerate(specs):
        alone, _ = build_ensemble([spec], arch, relay_2k.info)
        torch.testing.assert_close(both(x)[k], alone(x)[0], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(both(x)[0], both(x)[1])


def test_diagnose_reads_spders_frequency(relay_2k):
    """bench diagnose's pre-activations are w0 z: the first of SPDER's two numbers per layer."""
    model, _ = built("spder:w0_first=40", relay_2k)
    coords = torch.linspace(-1, 1, 256)[:, None]
    found = layer_activations(model, coords)
    zs = [z[0] for z, _ in model.hidden_layers(coords)]
    for layer, z, w0 in zip(found, zs, (40.0, 30.0, 30.0)):
        torch.testing.assert_close(torch.from_numpy(layer.pre), w0 * z.detach())


# ---- sinc ----

def test_sinc_activation_matches_flair_in_value_and_gradient(relay_2k, camera_32):
    """Ours with omega = 1 / T against torch.sinc(x / T) / T (FLAIR modules/sinc.py:38) on real pre-activations
    and at 0, where it is 1 / T with zero slope."""
    for task in (camera_32, relay_2k):
        model, _ = built("sinc:T=1", task)
        z = real_pre_activations(model, task.coords[::5])
        for T in (1.0, 0.1, 0.37, 3.0):
            ours, ours_grad = value_and_grad(lambda v: sinc_activation(v, torch.tensor(1 / T)), z)
            theirs, theirs_grad = value_and_grad(lambda v: official_sinc_block(v, T), z)
            torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5 / T)
            torch.testing.assert_close(ours_grad, theirs_grad, rtol=1e-4, atol=1e-4 / T**2)
            at_zero, slope = value_and_grad(lambda v: sinc_activation(v, torch.tensor(1 / T)), torch.zeros(1))
            assert at_zero.item() == pytest.approx(1 / T) and slope.item() == 0
    # not the unnormalised sin(x) / x, nor a sinc without FLAIR's 1 / T factor
    x = torch.linspace(-3, 3, 101)
    assert not torch.allclose(sinc_activation(x, torch.tensor(1.0)), torch.sin(x) / x)
    assert not torch.allclose(sinc_activation(x, torch.tensor(2.0)), torch.sinc(2 * x))


@pytest.mark.parametrize("T", [None, 0.5])
def test_a_built_sinc_member_computes_flairs_forward(relay_2k, camera_32, T):
    """Both members, their weights copied into FLAIR's network, give the same outputs on real coordinates. In
    float64: at T = 0.1 (audio) each layer multiplies by 1 / T = 10 and its sinc turns within z ~ T, so the
    float32 rounding of z / T against z (1 / T) grows to ~1e-3 over three layers; float64 shows the formulas
    agree."""
    spec = "sinc" if T is None else f"sinc:T={T}"
    for task in (camera_32, relay_2k):
        model, used = built(spec, task, width=32, layers=3, seeds=(0, 1))
        model = model.double()
        x = task.coords[::3].double()
        out = model(x).detach()
        for k in range(2):
            linears = copied_into([linear.double() for linear in
                                   official_sinc_network(task.info.d_in, 32, 3, task.info.d_out)], model, k)
            with torch.no_grad():
                torch.testing.assert_close(out[k], official_sinc_forward(linears, x, used[k]["T"]), rtol=1e-9,
                                           atol=1e-9)


def test_sinc_init_is_nn_linears_default():
    """FLAIR keeps nn.Linear's init (modules/sinc.py:30): weights and biases U(+-1/sqrt(fan_in)). Same bounds,
    and a KS test against nn.Linear's own draws; SIREN's hidden init is told apart."""
    width, layers = 256, 3
    for d_in, kind in ((1, "audio"), (2, "image")):
        info = SignalInfo(kind, d_in=d_in, d_out=1, centroid=0.3)
        model, _ = build_ensemble([MemberSpec(parse_model("sinc"), 0)], Architecture(d_in, width, layers, 1), info)
        torch.manual_seed(1)
        official = official_sinc_network(d_in, width, layers, 1)
        for i, linear in enumerate(official):
            bound = 1 / math.sqrt(linear.in_features)
            same_draws(model.weights[i][0], linear.weight, bound)
            same_draws(model.biases[i][0, 0], linear.bias, bound)
        siren_like = torch.empty(width, width).uniform_(-math.sqrt(6 / width) / 30, math.sqrt(6 / width) / 30)
        assert stats.ks_2samp(model.weights[1][0].detach().flatten().numpy(),
                              siren_like.flatten().numpy()).pvalue < 1e-10


def test_sinc_defaults_per_kind_and_given_values(relay_2k, camera_32):
    model, used = built("sinc", camera_32)
    assert used[0] == {"T": 1.0} and model.omegas[:, 0, 0, 0].tolist() == [1.0] * 3  # FLAIR batch_fitting.py:213
    model, used = built("sinc", relay_2k)
    assert used[0] == {"T": 0.1} and model.omegas[:, 0, 0, 0].tolist() == pytest.approx([10.0] * 3)  # ours
    model, used = built("sinc:T=0.25", camera_32)
    assert used[0] == {"T": 0.25} and model.omegas[:, 0, 0, 0].tolist() == [4.0] * 3
    with pytest.raises(UsageError, match=r"T=0 .*must be > 0"):
        parse_model("sinc:T=0")
    curve = SignalInfo("curve", d_in=1, d_out=1, centroid=0.1)
    with pytest.raises(UsageError, match=r"sinc has no default T for curve signals"):
        build_ensemble([MemberSpec(parse_model("sinc"), 0)], Architecture(1, 8, 2, 1), curve)


# ---- end to end ----

@pytest.mark.parametrize("model, task, metric, param", [
    ("spder", ["audio:arch", "--max-samples", "2048"], "snr_db", ("param.damping", "arctan")),
    ("sinc", ["image:camera", "--side", "32"], "psnr_db", ("param.T", 1.0)),
])
def test_bench_run_trains_each_model(capsys, tmp_path, need, model, task, metric, param):
    need(task[0].split(":")[1])
    code = main(["run", "--model", model, "--task", *task, "--steps", "20", "--seeds", "0", "--width", "32",
                 "--layers", "2", "--device", "cpu", "--no-progress", "--out", str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    row = pd.read_parquet(tmp_path).iloc[0]
    assert row["model"] == model and row["status"] == "ok" and math.isfinite(row[metric])
    assert row[param[0]] == param[1]
