"""Init statistics against docs/methods.md."""

import itertools
import math

import pytest
import torch

from bench.core.errors import UsageError
from bench.models import MLP, Architecture, Member, MemberSpec, build_ensemble, parse_model, sine
from tests.helpers import AUDIO, IMAGE, init


def uniform_std(bound):
    return bound / math.sqrt(3)


@pytest.mark.parametrize("signal, w0_first", [(AUDIO, 3000.0), (IMAGE, 30.0)])
def test_siren_bounds_std_and_frequencies(signal, w0_first):
    weights, biases, omegas, used = init("siren", signal)
    assert omegas == [w0_first, 30.0, 30.0, 30.0] and used["w0_first"] == w0_first
    first = 1.0 / signal.d_in
    assert weights[0].abs().max() <= first
    for w in weights[1:]:
        bound = math.sqrt(6 / w.shape[1]) / 30.0
        assert w.abs().max() <= bound
        rel = 0.02 if w.shape[0] > 1 else 0.15  # the output layer has only H samples
        assert w.std().item() == pytest.approx(uniform_std(bound), rel=rel)
    for b, w in zip(biases, weights):  # PyTorch's default bias init is kept
        assert b.abs().max() <= 1 / math.sqrt(w.shape[1])


def test_siren2_adds_decaying_noise_to_layers_after_the_first():
    base, _, _, _ = init("siren")
    weights, _, omegas, used = init("siren2:S0=0.05,a=4")
    assert omegas[0] == 3000.0 and used["S0"] == 0.05
    assert torch.equal(weights[0], base[0])  # layer 0 is not perturbed
    for k, (w, b) in enumerate(zip(weights[1:], base[1:])):
        rel = 0.03 if w.shape[0] > 1 else 0.15  # the output layer has only H samples
        assert (w - b).std().item() == pytest.approx(0.05 / 4**k, rel=rel), f"layer {k + 1}"


@pytest.mark.parametrize("signal, scale", [(AUDIO, 1.0), (IMAGE, 0.25)])
def test_siren2_default_noise_scale_depends_on_the_domain(signal, scale):
    base, _, _, _ = init("siren", signal)
    weights, _, _, used = init("siren2", signal)
    assert used["S0"] == pytest.approx(scale / 30) and used["a"] == 100.0
    assert (weights[1] - base[1]).std().item() == pytest.approx(scale / 30, rel=0.03)


def test_filtered_noise_rows_decay_geometrically():
    base, _, _, _ = init("siren", width=512)
    weights, _, _, _ = init("siren2_filtered:S0=0.05,decay=0.9", width=512)
    row_std = (weights[1] - base[1])[:20].std(dim=1)
    slope = torch.linalg.lstsq(torch.stack([torch.arange(20.0), torch.ones(20)], 1), row_std.log()[:, None]).solution[0]
    assert slope.item() == pytest.approx(math.log(0.9), rel=0.1)
    assert row_std[0].item() == pytest.approx(0.05, rel=0.15)
    unfiltered = (weights[1] - base[1]) / 0.9 ** torch.arange(512.0)[:, None]
    assert unfiltered[:40].std().item() == pytest.approx(0.05, rel=0.05)


@pytest.mark.parametrize("signal, s0, s1", [
    (AUDIO, 3500 * (1 - math.exp(-7 * 0.2)), 3 * 0.2),
    (IMAGE, 50 * (1 - math.exp(-5 * 0.3)), 0.4 * 0.3),
])
def test_winner_noise_from_the_spectral_centroid(signal, s0, s1):
    weights, _, omegas, used = init("winner", signal, width=1024, layers=3)
    assert used["s0"] == pytest.approx(s0) and used["s1"] == pytest.approx(s1)
    assert omegas == [30.0, 30.0, 30.0]  # w0_first 30 even for audio
    siren, _, _, _ = init("siren:w0_first=30", signal, width=1024, layers=3)
    assert (weights[0] - siren[0]).std().item() == pytest.approx(s0 / 30, rel=0.1)
    assert (weights[1] - siren[1]).std().item() == pytest.approx(s1 / 30, rel=0.03)
    for w, base in zip(weights[2:], siren[2:]):  # no noise after layer 1
        assert torch.equal(w, base)


def test_winner_scales_by_hand():
    _, _, _, used = init("winner:s0=10,s1=0.5")
    assert used["s0"] == 10.0 and used["s1"] == 0.5


def test_member_randomness_comes_from_its_seed_only():
    layers = MLP(sine)(1, 8, 1, 1)
    a = Member(layers, seed=3, signal=AUDIO)
    torch.manual_seed(123)  # the global generator must not matter
    b = Member(layers, seed=3, signal=AUDIO)
    assert all(torch.equal(x, y) for x, y in zip(a.weights + a.biases, b.weights + b.biases))
    c = Member(layers, seed=4, signal=AUDIO)
    assert not torch.equal(a.weights[1], c.weights[1])


@pytest.mark.parametrize("alpha", [2.5, 1.0, 4.0])
def test_weight_scaling_matches_the_official_bounds_at_its_commit(alpha):
    """effl-lab/Fast-Neural-Fields @ 7a8f247, ICLR2025/weight_scaling.py (SineMLP on 2-D inputs, h = 512):
    fc1.weight U(-scale/2, scale/2), hidden U(±sqrt(6/h) scale/30), fc2.weight U(±sqrt(6/h)/30), biases
    nn.Linear's default, sin(30 x) on every layer. Here: the bounds are attained (max |w| within 1% of
    them), the stds are a uniform's, the draws pass a KS test against U(-bound, bound), and alpha = 1 is
    SIREN's init itself, draw for draw."""
    from scipy import stats

    # its fc1 and 3 further sine layers are our 4 hidden layers
    weights, biases, omegas, used = init(f"weight_scaling:alpha={alpha}", IMAGE, width=512, layers=4)
    assert omegas == [30.0] * 4 and used["alpha"] == alpha
    bounds = [alpha / 2] + [alpha * math.sqrt(6 / 512) / 30] * 3 + [math.sqrt(6 / 512) / 30]
    for w, bound in zip(weights, bounds):
        assert bound * 0.99 <= w.abs().max() <= bound
        values = (w.flatten().double() / bound).numpy()
        assert stats.kstest(values, stats.uniform(loc=-1, scale=2).cdf).pvalue > 1e-3
    for w in weights[1:-1]:
        assert w.std().item() == pytest.approx(uniform_std(alpha * math.sqrt(6 / 512) / 30), rel=0.02)
    for b, w in zip(biases, weights):
        assert b.abs().max() <= 1 / math.sqrt(w.shape[1])
    siren_weights, siren_biases, _, _ = init("siren", IMAGE, width=512, layers=4)
    scaled = [w * alpha for w in siren_weights[:-1]] + [siren_weights[-1]]
    assert all(torch.equal(a, b) for a, b in zip(weights, scaled))
    assert all(torch.equal(a, b) for a, b in zip(biases, siren_biases))


def test_vi3nr_output_moments_match_closed_forms_and_the_official_monte_carlo():
    """Chumbyte/vi3nr @ 4d27816 estimates E[f(z)^2] = mu^2 + var of the activation's output from 1e6
    samples of N(0, sigma_p^2) (vi3nr_gain_MC); the quadrature here equals the closed forms and that estimate."""
    from bench.models.ensemble import sine
    from bench.models.finer import finer_sine
    from bench.models.gauss import gaussian
    from bench.models.vi3nr import output_second_moment

    for omega, sigma in ((30.0, 1.0), (30.0, 1 / 30), (3000.0, 1.0), (1.0, 0.5)):
        assert output_second_moment(sine, omega, sigma) == pytest.approx((1 - math.exp(-2 * (omega * sigma) ** 2)) / 2,
                                                                         abs=1e-12)
    for s, sigma in ((30.0, 1.0), (10.0, 0.1)):
        assert output_second_moment(gaussian, s, sigma) == pytest.approx(1 / math.sqrt(1 + 4 * (s * sigma) ** 2),
                                                                         abs=1e-12)
    z = torch.randn(1_000_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 0.1
    for activation, omega in ((finer_sine, 30.0), (gaussian, 10.0)):
        out = activation(z, torch.tensor(omega, dtype=torch.float64))
        mc, error = float(out.mean() ** 2 + out.var()), float((out * out).std()) / 1000  # the official estimate, its SE
        assert output_second_moment(activation, omega, 0.1) == pytest.approx(mc, abs=4 * error)


@pytest.mark.parametrize("model, activation_of", [("vi3nr", "sine"), ("vi3nr_gauss", "gaussian"),
                                                  ("vi3nr_finer", "finer_sine")])
def test_vi3nr_gives_every_layer_the_chosen_pre_activation_std(model, activation_of):
    """The official demo's check, the std of each layer's pre-activations on the inputs: the bounds follow
    the rule with the assumed input moments, and the pre-activations have the std the weights give on the
    inputs they meet (the default biases, which the official code keeps, add 1 / (3 fan_in) of variance, so
    later layers meet inputs a little off the assumed N(0, sigma_p^2); the first layer meets exactly sigma_p)."""
    from bench.models import ensemble, finer, gauss
    from bench.models.vi3nr import output_second_moment

    activation = {"sine": ensemble.sine, "gaussian": gauss.gaussian, "finer_sine": finer.finer_sine}[activation_of]
    sigma_p = 0.5
    weights, biases, omegas, used = init(f"{model}:sigma_p={sigma_p}", IMAGE, width=512, layers=3)
    assert used["sigma_p"] == sigma_p
    h = torch.rand(20_000, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 2 - 1
    moment = 1 / 3
    for i, (w, b) in enumerate(zip(weights, biases)):
        bound = math.sqrt(3) * sigma_p / math.sqrt(w.shape[1] * moment)
        assert bound * 0.98 <= w.abs().max() <= bound
        z = h @ w.double().T + b.double()
        weight_variance = w.double().var().item()
        expected = math.sqrt(w.shape[1] * weight_variance * h.square().mean().item() + 1 / (3 * w.shape[1]))
        assert z.std().item() == pytest.approx(expected, rel=0.1 if w.shape[0] > 1 else 0.3), i
        if i == 0:
            assert z.std().item() == pytest.approx(math.sqrt(sigma_p**2 + 1 / (3 * w.shape[1])), rel=0.05)
        if i < len(omegas):
            h = activation(z, torch.tensor(omegas[i], dtype=torch.float64))
            moment = output_second_moment(activation, omegas[i], sigma_p)


def official_first_layer_frequencies(low_freqs_1d, high_freqs_1d, width):
    """Transcription of DianaPat/TUNER @ 3a08967, networks/mrnet.py lines 40-69 (Initializer.initialize_first_layer,
    2-D only): the integer frequency vectors of the first layer, before the factor 2 pi / period."""
    possible_frequencies = []
    for init_freqs_1d in [low_freqs_1d, high_freqs_1d]:
        freqs_1d = init_freqs_1d + [-i for i in init_freqs_1d]
        possible_frequencies.append(torch.tensor(list(itertools.product(freqs_1d, repeat=2))))
    possible_frequencies = torch.cat(possible_frequencies)
    chosen_frequencies = []
    for x, y in possible_frequencies:
        if x < 0 or (x == 0 and y <= 0):
            continue
        chosen_frequencies.append([x, y])
    chosen_frequencies = torch.tensor(chosen_frequencies).reshape(-1, 2)
    return torch.cat([chosen_frequencies.float()[:width - 2], torch.eye(2)], axis=0).reshape(-1, 2)


def official_clamps(clamp_vals, clamp_limits, init_freqs):
    """Transcription of DianaPat/TUNER @ 3a08967, utils.py lines 29-36 (create_clamps): c_j per first-layer unit."""
    clamps = torch.empty(len(init_freqs))
    for idx, (fx, fy) in enumerate(init_freqs):
        max_freq = max(abs(fx), abs(fy))
        max_idx = sum(torch.tensor(clamp_limits) < max_freq)
        clamps[idx] = clamp_vals[max_idx]
    return clamps


# DianaPat/TUNER @ 3a08967: train_mrnet.py lines 31-34 (the default), networks/mrnet.py lines 36 and 38 (the
# Initializer's own defaults, reached with tuner:low=10,step=32,bandlimit=256)
TRAIN_MRNET_LISTS = ([0, 1, 2, 3, 4, 5, 6, 7], [0, 13, 26, 39, 52, 65, 78, 91, 104, 117, 130, 143, 156])
INITIALIZER_LISTS = ([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [0, 32, 64, 96, 128, 160, 192, 224, 256])


def tuner_frequencies(model, signal, width):
    weights, _, omegas, used = init(model, signal, width=width, layers=2)
    k = weights[0] / (2 * math.pi / 4)  # period 4 (configs/config_init.yml line 16)
    assert torch.allclose(k, k.round(), atol=1e-4) and omegas == [1.0, 30.0]
    return k.round(), used


@pytest.mark.parametrize("model, lists", [("tuner", TRAIN_MRNET_LISTS),
                                          ("tuner:low=10,step=32,bandlimit=256", INITIALIZER_LISTS)])
@pytest.mark.parametrize("width", [256, 64, 3])
def test_tuner_first_layer_frequencies_are_the_official_lists_crossed_and_cut_as_the_initializer_does(model, lists,
                                                                                                      width):
    k, _ = tuner_frequencies(model, IMAGE, width)
    assert torch.equal(k, official_first_layer_frequencies(*lists, width))


def test_tuner_on_audio_takes_the_lists_themselves_with_the_largest_step_that_fills_the_width():
    """1-D (this port's reading): the positive entries of the low list, then of the high list, cut, then k = 1; on
    audio the high list reaches 1910 in the largest step that still fills the width."""
    k, used = tuner_frequencies("tuner", AUDIO, 64)
    step, needed = used["step"], 64 - 1 - 7
    assert used["bandlimit"] == 1910 and 1910 // step >= needed > 1910 // (step + 1)
    assert k[:, 0].tolist() == list(range(1, 8)) + [step * i for i in range(1, needed + 1)] + [1]
    k, used = tuner_frequencies("tuner:step=100", AUDIO, 20)
    assert k[:, 0].tolist() == list(range(1, 8)) + list(range(100, 1300, 100)) + [1] and used["step"] == 100


def test_tuner_hidden_init_follows_the_official_initializer_and_its_bounds_train_mrnet():
    """DianaPat/TUNER @ 3a08967, networks/mrnet.py lines 92-110: column j of the first hidden matrix from
    N(0, (0.3 c_j / w0)^2), c_j from utils.py create_clamps with train_mrnet.py's bounds [1.0, 0.4] (line 29)
    and configs/config_init.yml's block_limits [10] (line 21); training/optimizers.py then clamps the whole
    matrix to one bound, 0.4 / w0 (see tests/models/test_constraints.py). Deeper hidden layers: SIREN's
    init, bounded by c_deep / w0."""
    from scipy import stats

    ensemble, _ = build_ensemble([MemberSpec(parse_model("tuner"), 0)], Architecture(2, 256, 3, 1), IMAGE)
    k = (ensemble.weights[0][0] / (math.pi / 2)).round()
    c = official_clamps([1.0, 0.4], [10], k.tolist())
    assert (c == 1.0).sum() + (c == 0.4).sum() == 256 and (c == 0.4).any() and (c == 1.0).any()
    assert torch.equal(ensemble.bound_1[0], torch.full((256, 256), 0.4 / 30))
    assert torch.equal(ensemble.bound_2[0], torch.full((256, 256), 1.0 / 30))
    assert ensemble.bounded == (1, 2)  # not the frozen first layer, not the output
    hidden = ensemble.weights[1][0].detach()
    standardised = hidden / (0.3 * c / 30)
    assert stats.kstest(standardised.flatten().double().numpy(), "norm").pvalue > 1e-3
    for value in (1.0, 0.4):
        assert hidden[:, c == value].std().item() == pytest.approx(0.3 * value / 30, rel=0.03)
    assert ensemble.weights[2][0].abs().max() <= math.sqrt(6 / 256) / 30
    assert not ensemble.weights[0].requires_grad and ensemble.biases[0].requires_grad


def test_tuner_trains_its_first_bias_not_its_first_weights_within_its_bounds_and_a_member_equals_its_solo_run(
        relay_2k):
    """DianaPat/TUNER @ 3a08967: networks/mrnet.py line 70-73 freezes first_layer.linear.weight only; the bias
    (bias: True, configs/config_init.yml line 13) is in the optimizer (mrnet's trainer optimises every parameter
    of the stage) and trains."""
    from bench.training import TrainConfig, train

    def fitted(seeds):
        model, _ = build_ensemble([MemberSpec(parse_model("tuner:c_high=0.2,c_deep=0.3"), s) for s in seeds],
                                  Architecture.of(relay_2k.info, 32, 3), relay_2k.info)
        start, start_bias = model.weights[0].detach().clone(), model.biases[0].detach().clone()
        outcome = train(model, relay_2k, TrainConfig(steps=60, lr=1e-3), progress=False)
        assert torch.equal(model.weights[0], start)  # frozen
        assert all(not torch.equal(model.biases[0][i], start_bias[i]) for i in range(len(seeds)))  # trained
        for i in model.bounded:
            assert (model.weights[i].abs() <= getattr(model, f"bound_{i}")).all()
        return [w.detach() for w in [*model.weights, *model.biases]], [m.final for m in outcome.members]

    weights, finals = fitted([0, 1, 2])
    solo_weights, solo_finals = fitted([1])
    assert all(torch.equal(w[1], s[0]) for w, s in zip(weights, solo_weights)) and finals[1] == solo_finals[0]


def test_tuner_counts_its_trained_first_bias_and_not_its_frozen_first_weights():
    from bench.models import parameter_count
    from tests.helpers import expected_parameters

    model, _ = build_ensemble([MemberSpec(parse_model("tuner"), 0)], Architecture(1, 256, 4, 1), AUDIO)
    assert model.member_parameters() == parameter_count(model.layers) == expected_parameters("tuner")


def test_tuner_refuses_a_layer_wider_than_its_lists_a_width_below_the_inputs_and_a_single_hidden_layer():
    with pytest.raises(UsageError, match="needs at least 2 hidden layers"):
        init("tuner", AUDIO, width=16, layers=1)
    with pytest.raises(UsageError, match="cross into 462 in 2-D; narrow the network"):  # (16^2-4)/2 + (26^2-4)/2
        init("tuner", IMAGE, width=500, layers=2)
    with pytest.raises(UsageError, match="raise low or bandlimit, or lower step"):
        init("tuner:bandlimit=20", AUDIO, width=64, layers=2)
    with pytest.raises(UsageError, match="give a width of at least 2"):
        init("tuner", IMAGE, width=1, layers=2)


@pytest.mark.parametrize("signal, w0_first", [(AUDIO, 3000.0), (IMAGE, 30.0)])
def test_h_siren_is_siren_draw_for_draw_with_a_hyperbolic_first_activation(signal, w0_first):
    """arXiv 2410.04716: the first layer's sin(x) becomes sin(sinh(2x)); here sin(w0_first sinh(2 z)), z = W x + b,
    SIREN's init and SIREN's layers elsewhere. The forward pass equals that formula written out by hand."""
    weights, biases, omegas, used = init("h_siren", signal, width=32, layers=2)
    siren_weights, siren_biases, siren_omegas, _ = init("siren", signal, width=32, layers=2)
    assert all(torch.equal(a, b) for a, b in zip(weights + biases, siren_weights + siren_biases))
    assert omegas == siren_omegas == [w0_first, 30.0] and used["w0_first"] == w0_first
    ensemble, _ = build_ensemble([MemberSpec(parse_model("h_siren"), 0)], Architecture(signal.d_in, 32, 2, 1), signal)
    x = torch.rand(50, signal.d_in) * 2 - 1
    h = torch.sin(w0_first * torch.sinh(2 * (x @ weights[0].T + biases[0])))
    h = torch.sin(30.0 * (h @ weights[1].T + biases[1]))
    expected = h @ weights[2].T + biases[2]
    with torch.no_grad():
        assert torch.allclose(ensemble(x)[0], expected, rtol=1e-4, atol=1e-5)
