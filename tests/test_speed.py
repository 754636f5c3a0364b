"""The fast paths give the numbers of the plain ones: batched ensembles against the plain reference loop
of benchmarks/, torch.compile against eager, reduced precision leaving layer 0 exact."""

from __future__ import annotations

import warnings

import pytest
import torch

from benchmarks.reference import fit, siren
from bench.errors import UsageError
from bench.models import MemberSpec, build_ensemble, parse_model
from bench.tasks import load_task
from bench.train import TrainConfig, train

STEPS = 60


def _ensemble(task, seeds, width=32, layers=3):
    specs = [MemberSpec(parse_model("siren"), seed) for seed in seeds]
    return build_ensemble(specs, [task.info.d_in] + [width] * layers + [task.info.d_out], task.info)[0]


def _member_as_sequential(model, k: int) -> torch.nn.Sequential:
    """Member k's weights copied into the reference loop's nn.Sequential SIREN."""
    w0s = model.omegas[:, k].flatten().tolist()
    net = siren(model.weights[0].shape[2], model.weights[0].shape[1], len(w0s), model.weights[-1].shape[1],
                w0=w0s[1], w0_first=w0s[0])
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for linear, weights, bias in zip(linears, model.weights, model.biases):
            linear.weight.copy_(weights[k])
            linear.bias.copy_(bias[k, 0])
    return net


def test_batched_member_trains_like_the_plain_reference_loop(relay_2k):
    model = _ensemble(relay_2k, seeds=[0, 1, 2])
    plain = _member_as_sequential(model, 1)
    outcome = train(model, relay_2k, TrainConfig(steps=STEPS, lr=1e-4), progress=False)
    mse = fit(plain, relay_2k.coords, relay_2k.target, STEPS, lr=1e-4)
    reference_snr = float(relay_2k.metric_from_mse(torch.tensor([mse]))[0])
    member = outcome.members[1]
    assert member.final - member.curve[0] > 2.0  # it learned, so the comparison means something
    # (at lr 1e-3 the w0 = 3000 dynamics amplify float rounding: both paths drift apart after ~20 steps)
    assert member.final == pytest.approx(reference_snr, abs=1e-3)


def test_compiled_step_gives_the_eager_metrics(camera_32):
    cfg = TrainConfig(steps=STEPS, lr=1e-3)
    eager = train(_ensemble(camera_32, seeds=[0, 1]), camera_32, cfg, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a fallback to eager would not test compilation
        compiled = train(_ensemble(camera_32, seeds=[0, 1]), camera_32, cfg, progress=False, compile=True)
    for a, b in zip(eager.members, compiled.members):
        assert a.final > 15.0
        assert b.final == pytest.approx(a.final, abs=0.05)


def test_compile_falls_back_to_eager_where_it_cannot_work(library):
    task = load_task("poisson-grad:camera", library, {"side": 24})  # double backward: not compilable
    cfg = TrainConfig(steps=10, lr=1e-3)
    eager = train(_ensemble(task, seeds=[0]), task, cfg, progress=False)
    with pytest.warns(RuntimeWarning, match="torch.compile failed .*double backward.*training eagerly"):
        fallback = train(_ensemble(task, seeds=[0]), task, cfg, progress=False, compile=True)
    assert fallback.members[0].final == eager.members[0].final


def test_reduced_precision_keeps_layer_0_exact(relay_2k):
    model = _ensemble(relay_2k, seeds=[0, 1])
    exact = [z for z, _ in model.hidden_layers(relay_2k.coords)]
    model.precision = "bf16"
    rounded = [z for z, _ in model.hidden_layers(relay_2k.coords)]
    torch.testing.assert_close(rounded[0], exact[0], rtol=1e-6, atol=1e-6)
    assert not torch.allclose(rounded[1], exact[1], rtol=1e-4, atol=1e-5)  # later layers do round
    torch.testing.assert_close(rounded[1], exact[1], rtol=0.05, atol=0.02)


def test_unknown_precision_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown precision 'fp16'"):
        TrainConfig(precision="fp16")
