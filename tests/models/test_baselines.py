"""Baselines added through the public model API: forward against plain single-member references,
training on a real slice, parameter counts."""

import math

import pytest
import torch

from bench.models import Architecture, MemberSpec, build_ensemble, parse_model
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
    assert used[0]["sigma"] == 7 and not pe.weights[0].requires_grad
    assert pe.weights[0].std().item() == pytest.approx(7, rel=0.2) and torch.equal(pe.biases[0], torch.zeros_like(pe.biases[0]))


@pytest.mark.parametrize("name", ["siren", "siren2", "winner", "finer", "finer++", "gauss", "wire", "relu_pe"])
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
