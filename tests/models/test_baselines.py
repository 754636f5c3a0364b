"""Baselines added through the public model API: forward against plain single-member references,
training on a real slice, parameter counts."""

import math

import pytest
import torch

from bench.models import Architecture, MemberSpec, build_ensemble, parse_model
from bench.models.relu_pe import fourier_features
from bench.training import TrainConfig, train
from tests.helpers import expected_parameters


def member(model, k):
    """Member k's layers as plain tensors: [(W [out, in], b [out], omega)], omega None for the output."""
    omegas = list(model.omegas[:, k, 0, 0]) + [None]
    return [(w[k].detach(), b[k, 0].detach(), o) for w, b, o in zip(model.weights, model.biases, omegas)]


def reference(name, layers, x):
    """A straightforward single-network forward of each baseline, written from its paper's formula."""
    h = x
    for i, (w, b, omega) in enumerate(layers):
        z = (h.to(w.dtype) if w.is_complex() else h) @ w.T + b
        if omega is None:
            return z.real if z.is_complex() else z
        if name in ("finer", "finer++"):
            h = torch.sin(omega * (z.abs() + 1) * z)
        elif name == "gauss":
            h = torch.exp(-(omega * z) ** 2)
        elif name == "wire":
            h = torch.exp(1j * omega[0] * z - (omega[1] * z).abs() ** 2)
        elif name == "relu_pe":
            h = torch.cat([torch.sin(2 * math.pi * z), torch.cos(2 * math.pi * z)], -1) if i == 0 else torch.relu(z)
    raise AssertionError("no output layer")


@pytest.mark.parametrize("name", ["finer", "finer++", "gauss", "wire", "relu_pe"])
def test_forward_matches_a_plain_single_member_reference(relay_2k, camera_32, name):
    for task in (relay_2k, camera_32):
        model, _ = build_ensemble([MemberSpec(parse_model(name), seed) for seed in (0, 1)],
                                  Architecture(task.info.d_in, 16, 3, task.info.d_out), task.info)
        x = task.coords[::7]
        out = model(x).detach()
        for k in range(2):
            torch.testing.assert_close(out[k], reference(name, member(model, k), x), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("name, lr", [("finer", 1e-4), ("finer++", 1e-4), ("gauss", 1e-3), ("wire", 1e-3),
                                      ("relu_pe", 1e-3)])
def test_each_baseline_trains_on_a_real_clip_slice(library, name, lr):
    from bench.tasks import load_task

    task = load_task("audio:arch", library, {"max_samples": 2048})
    model, _ = build_ensemble([MemberSpec(parse_model(name), 0)], Architecture(1, 32, 3, 1), task.info)
    initial = task.evaluate(model)[task.metric].item()
    outcome = train(model, task, TrainConfig(steps=60, lr=lr), progress=False).members[0]
    assert outcome.status == "ok" and outcome.final > initial + 0.5


def test_finer_pp_first_bias_and_frozen_fourier_encoding(relay_2k):
    model, _ = build_ensemble([MemberSpec(parse_model("finer++:k=5"), 0)], Architecture(1, 256, 2, 1), relay_2k.info)
    bias = model.biases[0][0, 0]
    assert bias.abs().max() <= 5 and bias.abs().max() > 4 and bias.std().item() == pytest.approx(5 / 3**0.5, rel=0.1)
    pe, used = build_ensemble([MemberSpec(parse_model("relu_pe:sigma=7"), 0)], Architecture(2, 64, 2, 1), relay_2k.info)
    assert used[0]["sigma"] == 7 and not pe.weights[0].requires_grad and not pe.biases[0].requires_grad
    B = 2 * pe.weights[0][0]  # [32, 2]: the frequencies per unit of Tancik's coordinates
    assert B.std().item() == pytest.approx(7, rel=0.2)


def test_fourier_features_are_tancik_mapping_of_unit_square_coordinates(camera_32):
    """The official mapping (tancik/fourier-feature-networks @ 9c110c3, Demo.ipynb, ``input_mapping``:
    [sin(2 pi v B^T), cos(2 pi v B^T)] of pixel coordinates v in [0, 1)) at v = (x + 1) / 2."""
    pe, _ = build_ensemble([MemberSpec(parse_model("relu_pe"), 0)], Architecture(2, 64, 2, 1), camera_32.info)
    x = camera_32.coords.double()  # [N, 2] in [-1, 1]
    B = 2 * pe.weights[0][0].double()  # [32, 2]
    v = (x + 1) / 2
    official = torch.cat([torch.sin(2 * math.pi * v @ B.T), torch.cos(2 * math.pi * v @ B.T)], dim=-1)
    ours = fourier_features(x @ pe.weights[0][0].double().T + pe.biases[0][0].double(), None)
    torch.testing.assert_close(ours, official, rtol=0, atol=1e-4)  # float32 weights and bias


@pytest.mark.parametrize("name", ["siren", "siren2", "winner", "finer", "finer++", "gauss", "wire", "relu_pe", "spder",
                                  "sinc"])
def test_parameter_counts(relay_2k, name):
    model, _ = build_ensemble([MemberSpec(parse_model(name), 0)], Architecture(1, 256, 4, 1), relay_2k.info)
    assert model.member_parameters() == expected_parameters(name)


def test_complex_wire_trains_through_poisson_derivatives(library):
    """Double backward through complex layers leaves conjugated grads that Adam must accept."""
    from bench.tasks import load_task

    task = load_task("poisson-lapl:camera", library, {"side": 16})
    model, _ = build_ensemble([MemberSpec(parse_model("wire"), 0)], Architecture(2, 16, 2, 1), task.info)
    initial = task.evaluate(model)["lapl_mse"].item()
    outcome = train(model, task, TrainConfig(steps=20, lr=1e-3), progress=False).members[0]
    assert outcome.status == "ok" and outcome.extra["lapl_mse"] < initial


def test_wire_takes_the_official_frequencies_per_kind(relay_2k, camera_32):
    """vishwa91/wire @ bf95232: omega 20, s 30 for image representation (wire_image_denoise.py:38);
    audio keeps this project's 20, 10; a given value wins."""
    for task, expected in ((camera_32, (20.0, 30.0)), (relay_2k, (20.0, 10.0))):
        model, used = build_ensemble([MemberSpec(parse_model("wire"), 0)], Architecture(task.info.d_in, 16, 2, 1),
                                     task.info)
        assert (used[0]["omega"], used[0]["s"]) == expected
        assert tuple(model.omegas[0, 0, 0, 0].tolist()) == expected  # layer 0, member 0: (omega, s)
    _, used = build_ensemble([MemberSpec(parse_model("wire:s=5"), 0)], Architecture(2, 16, 2, 1), camera_32.info)
    assert (used[0]["omega"], used[0]["s"]) == (20.0, 5.0)
