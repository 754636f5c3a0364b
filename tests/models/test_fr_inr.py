"""FR-INR (Fourier reparameterized training) against the computations of its official code, written out here as
plain torch: LabShuHangGU/FR-INR @ 4b8f491922640ace925643c82dba9c251868315e (modules.py, the training scripts).
The option on top of any scheme: its label and cells, budgets, ensembles, the command line and its refusals."""

import math
import textwrap

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats
from torch import nn

from bench.core.errors import UsageError
from bench.experiment.plan import Cell, expand
from bench.experiment.spec import parse_spec
from bench.models import (Architecture, MemberSpec, Network, SignalInfo, build_ensemble, parameter_count, parse_model,
                          register_model, width_for_budget)
from bench.models.fr import FourierBasis
from bench.training import TrainConfig, train
from tests.helpers import TINY, one_line_error, run_cli


# ---- the official computations, in plain torch ----

def official_bases(in_features, high_freq_num, low_freq_num, phi_num, alpha):
    """Fourier_reparam_linear.init_bases (modules.py:78-101; sin_fr_layer's, 162-185, is the same): rows
    cos(freq x + phi), the low frequencies (i+1)/low_freq_num first, then the high ones i+1, each at the phases
    2 pi i / phi_num, on in_features points over [-T/2, T/2], T the longest period; then times alpha."""
    phi_set = np.array([2 * math.pi * i / phi_num for i in range(phi_num)])
    high_freq = np.array([i + 1 for i in range(high_freq_num)])
    low_freq = np.array([(i + 1) / low_freq_num for i in range(low_freq_num)])
    if len(low_freq) != 0:
        T_max = 2 * math.pi / low_freq[0]
    else:
        T_max = 2 * math.pi / min(high_freq)
    points = np.linspace(-T_max / 2, T_max / 2, in_features)
    bases = torch.Tensor((high_freq_num + low_freq_num) * phi_num, in_features)
    i = 0
    for freq in low_freq:
        for phi in phi_set:
            bases[i, :] = torch.tensor([math.cos(freq * x + phi) for x in points])
            i += 1
    for freq in high_freq:
        for phi in phi_set:
            bases[i, :] = torch.tensor([math.cos(freq * x + phi) for x in points])
            i += 1
    return alpha * bases


def official_lamb(bases, out_features, omega_0=1.0):
    """init_lamb (modules.py:104-112 for ReLU, omega_0 = 1; 188-196 for sine): column i of Lambda
    U(+-sqrt(6/m) / ||B_i|| / omega_0), m the number of basis rows."""
    m = bases.shape[0]
    lamb = torch.Tensor(out_features, m)
    with torch.no_grad():
        for i in range(m):
            dominator = torch.norm(bases[i, :], p=2)
            nn.init.uniform_(lamb[:, i], -np.sqrt(6 / m) / dominator / omega_0, np.sqrt(6 / m) / dominator / omega_0)
    return lamb


def official_fr_layer(x, lamb, bases, bias, omega_0=None):
    """Fourier_reparam_linear.forward (modules.py:118-122), and sin_fr_layer.forward (202-206) with omega_0:
    weight = lamb @ bases, x weight^T + bias^T (bias [out, 1]), then sin(omega_0 .) for sine layers."""
    weight = torch.matmul(lamb, bases)
    output = torch.matmul(x, weight.transpose(0, 1)) + bias.T
    return output if omega_0 is None else torch.sin(omega_0 * output)


def official_sin_fr(x, first, hidden, last, omega_first, omega):
    """INR(mode='sin+fr', outermost_linear=True) (modules.py:245-258): SineLayer (124-144), sin_fr_layers, a
    final nn.Linear. first/last: (weight, bias) of nn.Linear; hidden: [(lamb, bases, bias [out, 1])]."""
    h = torch.sin(omega_first * (x @ first[0].T + first[1]))
    for lamb, bases, bias in hidden:
        h = official_fr_layer(h, lamb, bases, bias, omega)
    return h @ last[0].T + last[1]


def official_relu_fr(h, first, hidden, last):
    """INR(mode='relu+fr', outermost_linear=True) (modules.py:226-231, 250-258) on given input features h (after
    an encoding, pe=True): nn.Linear + ReLU, Fourier_reparam_linear + ReLU layers, a final nn.Linear."""
    h = torch.relu(h @ first[0].T + first[1])
    for lamb, bases, bias in hidden:
        h = torch.relu(official_fr_layer(h, lamb, bases, bias))
    return h @ last[0].T + last[1]


# ---- helpers ----

def built(name, info, width=32, layers=3, seeds=(0,)):
    return build_ensemble([MemberSpec(parse_model(name), seed) for seed in seeds],
                          Architecture(info.d_in, width, layers, info.d_out), info)


def basis_of(model, i):
    return getattr(model, f"basis_{i}")


def projected(weights):
    """weights [out, n] less their part along what the official basis lacks at its official sizes (n even,
    n / 2 frequencies of each kind, 3 or more phases): the first column minus the last (its end points lie a
    period apart) and the constant over the first n - 1 columns (no frequency aliases to 0 on those points)."""
    n = weights.shape[1]
    lacking = torch.zeros(n, 2, dtype=torch.float64)
    lacking[0, 0], lacking[-1, 0] = 1.0, -1.0
    lacking[:-1, 1] = 1.0
    q, _ = torch.linalg.qr(lacking)
    w = weights.double()
    return (w - w @ q @ q.T).float()


AUDIO = SignalInfo("audio", d_in=1, d_out=1, centroid=0.2)
IMAGE = SignalInfo("image", d_in=2, d_out=3, centroid=0.3)
SHAPE = SignalInfo("shape", d_in=3, d_out=1, centroid=0.1)


# ---- the basis, the layer and the network ----

@pytest.mark.parametrize("fan_in, per_input, phases, alpha", [
    (256, 0.5, 32, 0.01),  # 2d_image_fitting.py:39-45 (sine's alpha)
    (128, 0.5, 16, 0.05),  # 1d_function_fitting.py:48-55
    (256, 1.0, 8, 0.001),  # 3D_occupance.py:55-62
    (15, 0.5, 3, 0.05),  # odd sizes: 8 frequencies of each kind (7.5 rounded)
])
def test_the_basis_is_the_official_one_bit_for_bit(fan_in, per_input, phases, alpha):
    basis = FourierBasis(fan_in, per_input, phases, alpha)
    n = basis.freqs
    theirs = official_bases(fan_in, n, n, phases, alpha)
    assert basis.size == theirs.shape[0] == 2 * n * phases
    assert torch.equal(basis.matrix(), theirs)


def test_default_bases_per_input_dimension_and_activation():
    """Per input dimension, the official scripts' settings at their ratio of frequencies to width; alpha 0.05 for
    ReLU, 0.01 for sine (0.001 and 0.01 on 3-D inputs); every hidden-to-hidden layer and no other."""
    for name, info, width, expected in (
            ("siren:fr=true", IMAGE, 32, (16, 32, 0.01)), ("siren:fr=true", AUDIO, 32, (16, 16, 0.01)),
            ("siren:fr=true", SHAPE, 32, (32, 8, 0.001)), ("relu_pe:fr=true", AUDIO, 32, (16, 16, 0.05)),
            ("relu_pe:fr=true", IMAGE, 32, (16, 32, 0.05)), ("relu_pe:fr=true", SHAPE, 32, (32, 8, 0.01)),
            ("finer:fr=true", IMAGE, 32, (16, 32, 0.01))):
        model, used = built(name, info, width=width, layers=4)
        n, phases, alpha = expected
        fr_layers = [i for i, layer in enumerate(model.layers) if layer.basis is not None]
        assert fr_layers == ([2, 3, 4] if name.startswith("relu_pe") else [1, 2, 3]), name  # relu_pe: after its encoding
        for i in fr_layers:
            assert torch.equal(basis_of(model, i), official_bases(width, n, n, phases, alpha)), (name, info.domain)
        assert used[0].items() >= {"fr": True, "fr_alpha": alpha, "fr_phases": phases, "fr_freqs": n / width}.items()
    model, used = built("siren:fr=true,fr_alpha=0.2,fr_phases=5,fr_freqs=0.25", IMAGE)
    assert torch.equal(basis_of(model, 1), official_bases(32, 8, 8, 5, 0.2))
    assert used[0]["fr_alpha"] == 0.2 and used[0]["fr_phases"] == 5 and used[0]["fr_freqs"] == 0.25


def test_a_built_sine_member_computes_the_official_sin_fr_network(camera_32):
    """Both members of an ensemble, their first layer, coefficients, biases and output layer copied into the
    official sin+fr network (with the official basis), give the same outputs on real coordinates."""
    model, _ = built("siren:fr=true", camera_32.info, width=32, layers=3, seeds=(0, 1))
    x = camera_32.coords[::3]
    out = model(x).detach()
    bases = official_bases(32, 16, 16, 32, 0.01)
    for k in range(2):
        w, b = [p[k].detach() for p in model.weights], [p[k, 0].detach() for p in model.biases]
        hidden = [(w[i], bases, b[i][:, None]) for i in (1, 2)]
        with torch.no_grad():
            theirs = official_sin_fr(x, (w[0], b[0]), hidden, (w[3], b[3]), 30.0, 30.0)
        torch.testing.assert_close(out[k], theirs, rtol=1e-4, atol=1e-5)


def test_a_built_relu_pe_member_computes_the_official_relu_fr_network_after_its_encoding(relay_2k):
    """relu_pe with fr: its fixed Fourier features, then the official relu+fr network (pe=True: the first layer
    after the encoding plain, the hidden ones reparameterized) on those features."""
    model, _ = built("relu_pe:fr=true", relay_2k.info, width=32, layers=3, seeds=(0, 1))
    x = relay_2k.coords[::5]
    out = model(x).detach()
    features = next(model.hidden_layers(x))[1].detach()  # [K, N, 32]: the encoding's output
    bases = official_bases(32, 16, 16, 16, 0.05)
    for k in range(2):
        w, b = [p[k].detach() for p in model.weights], [p[k, 0].detach() for p in model.biases]
        with torch.no_grad():
            hidden = [(w[i], bases, b[i][:, None]) for i in (2, 3)]  # layer 0 is the encoding, 1 reads it
            theirs = official_relu_fr(features[k], (w[1], b[1]), hidden, (w[4], b[4]))
        torch.testing.assert_close(out[k], theirs, rtol=1e-4, atol=1e-5)


# ---- the init: the scheme's, its weights fitted ----

@pytest.mark.parametrize("name", ["siren", "siren2", "winner", "relu_pe"])
def test_the_scheme_inits_and_the_coefficients_fit_its_weights(name, camera_32):
    """Every layer of the scheme as without fr, but the reparameterized weights Lambda B: the scheme's weights less
    what the official basis cannot hold (``projected``, about 2 of 32 dimensions); so the forward at init is the
    scheme's with those weights."""
    plain, _ = built(name, camera_32.info, seeds=(4,))
    fr, _ = built(f"{name}:fr=true", camera_32.info, seeds=(4,))
    assert torch.equal(plain.omegas, fr.omegas)
    for i, layer in enumerate(fr.layers):
        assert torch.equal(plain.biases[i], fr.biases[i])
        if layer.basis is None:
            assert torch.equal(plain.weights[i], fr.weights[i])
            continue
        ours, scheme = fr.weight(i)[0].detach(), plain.weights[i][0].detach()
        assert fr.weights[i].shape == (1, 32, layer.basis.size)
        torch.testing.assert_close(ours, projected(scheme), rtol=0, atol=1e-5 * scheme.abs().max().item())
        lost = (scheme - ours).norm() / scheme.norm()
        assert 0.05 < lost < 0.5  # the two lost dimensions of 32: about sqrt(2 / 32) = 0.25 of the norm
    with torch.no_grad():
        for i, layer in enumerate(fr.layers):
            if layer.basis is not None:
                plain.weights[i].copy_(fr.weight(i))
        x = camera_32.coords[::4]
        torch.testing.assert_close(fr(x), plain(x), rtol=1e-4, atol=1e-5)


def test_siren_with_fr_starts_with_the_official_weight_scale():
    """At the official image size (width 256, 128 + 128 frequencies, 32 phases, alpha 0.01, omega 30), the
    official init of a sin_fr_layer (its own Lambda draw) and ours (SIREN's weights, fitted) give hidden weights
    of the same std (within 5%), both with the basis' tied end columns; theirs are near Gaussian (a sum of 8,192
    draws), ours keep SIREN's uniform shape (excess kurtosis -1.2): a KS test tells them apart (the departure
    docs/methods.md states)."""
    model, _ = built("siren:fr=true", IMAGE, width=256, layers=3, seeds=(0,))
    ours = model.weight(1)[0].detach()
    torch.manual_seed(0)
    bases = official_bases(256, 128, 128, 32, 0.01)
    theirs = official_lamb(bases, 256, omega_0=30.0) @ bases
    assert torch.equal(basis_of(model, 1), bases)
    assert ours.std().item() == pytest.approx(theirs.std().item(), rel=0.05)
    assert ours.std().item() == pytest.approx(math.sqrt(6 / 256) / 30 / math.sqrt(3), rel=0.05)  # SIREN's
    for w in (ours, theirs):
        torch.testing.assert_close(w[:, 0], w[:, -1], rtol=0, atol=1e-6 * w.abs().max().item())
    assert stats.kurtosis(theirs.flatten().numpy()) == pytest.approx(0.0, abs=0.1)
    assert stats.kurtosis(ours.flatten().numpy()) == pytest.approx(-1.2, abs=0.1)
    assert stats.ks_2samp(ours.flatten().numpy(), theirs.flatten().numpy()).pvalue < 1e-6


def test_training_moves_the_coefficients_and_keeps_the_basis(relay_2k):
    model, _ = built("siren:fr=true", relay_2k.info, width=16, layers=3, seeds=(0,))
    before = [p.detach().clone() for p in model.weights]
    basis = basis_of(model, 1).clone()
    train(model, relay_2k, TrainConfig(steps=5, lr=1e-3), progress=False)
    assert all(not torch.equal(b, p) for b, p in zip(before, model.weights))
    assert torch.equal(basis_of(model, 1), basis) and not basis_of(model, 1).requires_grad
    assert {name for name, p in model.named_parameters() if p.requires_grad} == {
        f"{kind}.{i}" for kind in ("weights", "biases") for i in range(4)}
    w = model.weight(1)[0].detach()
    torch.testing.assert_close(w[:, 0], w[:, -1], rtol=0, atol=1e-6)  # Lambda B keeps the basis' ties


# ---- ensembles, threads, budgets ----

def test_ensemble_members_train_as_they_do_alone_bit_for_bit(relay_2k):
    """siren, siren2 and winner with fr share one network, so one ensemble; each member's forward at init and
    its parameters after a few training steps are those of its lone run, bit for bit."""
    specs = [MemberSpec(parse_model(name), seed) for name, seed in
             (("siren:fr=true", 0), ("siren2:fr=true", 1), ("winner:fr=true", 2))]
    arch = Architecture(1, 16, 3, 1)
    both, _ = build_ensemble(specs, arch, relay_2k.info)
    x = relay_2k.coords
    start = both(x).detach()
    config = TrainConfig(steps=3, lr=1e-3)
    train(both, relay_2k, config, progress=False)
    for k, spec in enumerate(specs):
        alone, _ = build_ensemble([spec], arch, relay_2k.info)
        assert torch.equal(alone(x).detach()[0], start[k])
        train(alone, relay_2k, config, progress=False)
        for ours, theirs in zip(alone.parameters(), both.parameters()):
            assert torch.equal(ours[0], theirs[k]), spec


def test_numbers_do_not_depend_on_the_ensemble_size_or_the_thread_count(relay_2k):
    """As every scheme's (tests/training/test_determinism.py): member 0's curve, bit for bit."""
    def curve(size, threads):
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            model, _ = built("siren:fr=true", relay_2k.info, width=32, layers=3, seeds=range(size))
            return train(model, relay_2k, TrainConfig(steps=20, lr=3e-4), progress=False).members[0].curve
        finally:
            torch.set_num_threads(before)
    reference = curve(1, 1)
    for size, threads in ((3, 1), (1, 2), (3, 2)):
        assert curve(size, threads) == reference, (size, threads)


def test_parameters_count_the_coefficients_and_budgets_size_by_them():
    """Per reparameterized layer, fan_out x M coefficients (M = 2 n phases) replace fan_out x fan_in weights."""
    width, layers = 32, 3
    hand = (2 * width + width) + 2 * (width * (2 * 16 * 32) + width) + (width * 3 + 3)  # image: n 16, 32 phases
    fr = parse_model("siren:fr=true")
    assert parameter_count(Architecture(2, width, layers, 3).layers_of(fr.plan)) == hand
    model, _ = built("siren:fr=true", IMAGE, width=width, layers=layers)
    assert model.member_parameters() == hand
    budget = 20_000
    plain_width, _ = width_for_budget(parse_model("siren"), 2, 3, 3, budget)
    fr_width, count = width_for_budget(fr, 2, 3, 3, budget)
    assert fr_width < plain_width / 3 and abs(count - budget) <= 0.1 * budget
    assert parameter_count(Architecture(2, fr_width, 3, 3).layers_of(fr.plan)) == count


# ---- labels, cells, specs ----

def test_without_fr_labels_cells_and_code_are_the_schemes(library):
    """fr=false is the scheme as it is (same label, same cell key, same code fingerprint); fr=true is another
    label, other cells, and code that includes FR's."""
    plain, off, on = parse_model("siren2:S0=0.05"), parse_model("siren2:S0=0.05,fr=false"), parse_model(
        "siren2:fr=true,S0=0.05")
    assert off == plain and off.label == plain.label == "siren2:S0=0.05"
    assert on.label == "siren2:S0=0.05,fr=True" and on.scheme_params == {"S0": 0.05}
    cell = lambda model: Cell("audio", "arch", (("max_samples", 4096),), 64, 3, TrainConfig(steps=300, lr=3e-4),
                              model, 1, "c6d81b44b2276c3437a606efa7d938f302c9a1ea88bf72aac2d5019fddf9ad44")
    assert cell(off).key == cell(plain).key == "56864c6367c79cb2"  # tests/experiment/test_plan.py's published key
    assert cell(on).key != cell(plain).key
    assert plain.code == off.code == plain.entry.code and on.code != plain.code
    spec = parse_spec(textwrap.dedent("""
        name = "fr"
        seeds = [0]
        widths = 16
        layers = 3
        [train]
        steps = 10
        [models]
        siren = [{}, {fr = true, fr_alpha = [0.02, 0.05]}]
        [[tasks]]
        task = "audio"
        signals = ["arch"]
        max_samples = 256
    """), "fr.toml", library)
    assert [m.label for m in spec.models] == ["siren", "siren:fr=True,fr_alpha=0.02", "siren:fr=True,fr_alpha=0.05"]
    assert len({cell.key for cell in expand(spec)}) == 3


def test_a_spec_refuses_fr_settings_without_fr_and_schemes_that_cannot_take_it(library):
    def problems(models):
        text = f'name = "x"\nseeds = [0]\nwidths = 8\nlayers = 3\n[models]\n{models}\n' \
               '[[tasks]]\ntask = "audio"\nsignals = ["arch"]\nmax_samples = 256\n'
        with pytest.raises(UsageError) as caught:
            parse_spec(text, "x.toml", library)
        return str(caught.value)
    assert "models.siren" in (found := problems("siren = {fr_phases = 4}")) and "add fr=true" in found
    assert "wire cannot take fr" in problems("wire = {fr = true}")
    assert "unknown parameter (did you mean 'fr_freqs'?)" in problems("siren = {fr_freq = 0.5}")


# ---- the command line ----

@pytest.mark.parametrize("task, options", [("image:camera", ["--crop", "32"]),
                                           ("audio:relay", ["--max-samples", "512"])])
def test_bench_run_trains_a_scheme_with_and_without_fr(capsys, tmp_path, need, task, options):
    need(task.split(":")[1])
    code, out, err = run_cli(capsys, "run", "--model", "siren:fr=true", "--model", "siren", "--task", task, *options,
                             "--steps", "20", "--width", "16", "--layers", "2", "--seeds", "0-1", "--out",
                             str(tmp_path), "--no-progress", "--device", "cpu", "--max-members", "4")
    assert code == 0, err
    rows = pd.read_parquet(tmp_path).set_index(["model_spec", "seed"]).sort_index()
    assert set(rows.index.get_level_values(0)) == {"siren", "siren:fr=True"}
    metric = rows["main_metric"].iloc[0]
    assert np.isfinite(rows[metric]).all() and (rows["status"] == "ok").all()
    fr = rows.loc["siren:fr=True"]
    d_in, d_out, phases = (2, 1, 32) if task.startswith("image") else (1, 1, 16)
    assert (fr["param.fr_phases"] == phases).all() and (fr["param.fr_alpha"] == 0.01).all()
    assert (fr["n_params"] == (d_in * 16 + 16) + (16 * 2 * 8 * phases + 16) + (16 * d_out + d_out)).all()
    assert rows.loc["siren", "param.fr"].isna().all()
    assert (rows.loc["siren", "n_params"] == (d_in * 16 + 16) + (16 * 16 + 16) + (16 * d_out + d_out)).all()


@pytest.mark.parametrize("model, flags, message", [
    ("wire:fr=true", [], "wire cannot take fr: it has complex layers"),
    ("meta_learned:fr=true", [], "meta_learned cannot take fr: it learns its init from other signals"),
    ("tuner:fr=true", ["--layers", "3"], "tuner cannot take fr: it clamps layer 2's weights during training"),
    ("siren:fr_alpha=0.1", [], "siren: fr_alpha sets Fourier reparameterized training; add fr=true"),
    ("siren:fr=true", ["--layers", "1"], "has none; give --layers 2 or more"),
    ("siren:fr=maybe", [], "siren: fr="),
])
def test_refusals_are_one_line(capsys, tmp_path, model, flags, message):
    code, _, err = run_cli(capsys, "run", "--model", model, "--task", "audio:synthetic:hf_noise", "--max-samples", "256",
                           "--seeds", "0", "--out", str(tmp_path), *TINY, *flags)
    assert code == 2 and message in one_line_error(err)


def test_a_network_that_does_not_chain_and_a_scheme_declaring_fr_are_refused():
    class Gated(Network):
        def __call__(self, d_in, width, layers, d_out):
            return []

        def forward(self, net, coords, precision):
            return coords

    @register_model("gated_test", plan=Gated())
    def gated_test(m):
        """A test network that does not chain its layers."""

    with pytest.raises(UsageError, match="gated_test cannot take fr: it builds a network that evaluates its layers"):
        parse_model("gated_test:fr=true")
    with pytest.raises(UsageError, match="declares fr, which every model takes already"):
        @register_model("declares_fr")
        def declares_fr(m, fr: bool = False):
            """A scheme with a parameter named like the reserved one."""


def test_bench_list_models_names_the_option(capsys):
    code, out, _ = run_cli(capsys, "list", "models")
    assert code == 0
    note = out.strip().splitlines()[-1]
    assert "also takes fr=true" in note and "FR-INR" in note and "fr_alpha" in note
    assert note.startswith("every model but ") and "wire" in note and "siren" not in note.split("also")[0]
