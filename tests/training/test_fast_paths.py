"""The fast paths give the numbers of the plain ones: batched ensembles against the plain reference loop
of benchmarks/, torch.compile against eager, reduced precision leaving layer 0 exact."""

from __future__ import annotations

import warnings

import pytest
import torch

from bench.core.errors import BenchWarning, UsageError
from bench.models import Architecture, MemberSpec, build_ensemble, parse_model
from bench.tasks import load_task
from bench.training import Problem, TrainConfig, train

from benchmarks.reference import fit, siren


STEPS = 60


def _ensemble(task, seeds, width=32, layers=3):
    specs = [MemberSpec(parse_model("siren"), seed) for seed in seeds]
    return build_ensemble(specs, Architecture.of(task.info, width, layers), task.info)[0]


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


@pytest.mark.slow
def test_compiled_step_gives_the_eager_metrics(camera_32):
    cfg = TrainConfig(steps=STEPS, lr=1e-3)
    eager = train(_ensemble(camera_32, seeds=[0, 1]), camera_32, cfg, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", BenchWarning)  # a fallback to eager would not test compilation
        compiled = train(_ensemble(camera_32, seeds=[0, 1]), camera_32, cfg, progress=False, compile=True)
    for a, b in zip(eager.members, compiled.members):
        assert a.final > 15.0
        assert b.final == pytest.approx(a.final, abs=0.05)


@pytest.mark.slow
def test_compile_falls_back_to_eager_where_it_cannot_work(library):
    task = load_task("poisson-grad:camera", library, {"side": 24})  # double backward: not compilable
    cfg = TrainConfig(steps=10, lr=1e-3)
    eager = train(_ensemble(task, seeds=[0]), task, cfg, progress=False)
    with pytest.warns(BenchWarning, match="poisson-grad: torch.compile .*double backward"):
        fallback = train(_ensemble(task, seeds=[0]), task, cfg, progress=False, compile=True)
    assert fallback.members[0].final == eager.members[0].final


def test_training_in_bf16_leaves_the_model_in_its_own_precision(relay_2k):
    model = _ensemble(relay_2k, seeds=[0])
    outcome = train(model, relay_2k, TrainConfig(steps=3, precision="bf16"), progress=False)
    with torch.no_grad():  # a final NTK after training runs as the initial one did: in fp32
        assert torch.equal(model(relay_2k.coords), model(relay_2k.coords, "fp32"))
        assert not torch.equal(model(relay_2k.coords), model(relay_2k.coords, "bf16"))
    assert outcome.members[0].status == "ok"


def test_reduced_precision_keeps_layer_0_exact(relay_2k):
    model = _ensemble(relay_2k, seeds=[0, 1])
    exact = [z for z, _ in model.hidden_layers(relay_2k.coords)]
    rounded = [z for z, _ in model.hidden_layers(relay_2k.coords, "bf16")]
    torch.testing.assert_close(rounded[0], exact[0], rtol=1e-6, atol=1e-6)
    assert not torch.allclose(rounded[1], exact[1], rtol=1e-4, atol=1e-5)  # later layers do round
    torch.testing.assert_close(rounded[1], exact[1], rtol=0.05, atol=0.02)


def test_unknown_precision_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown precision 'fp16'"):
        TrainConfig(precision="fp16")


def test_compiled_steps_land_in_the_project_cache_though_torch_set_its_own_default(relay_2k, tmp_path, monkeypatch):
    from bench.core.caches import _torch_default

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # the project's cache folder moves here
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", _torch_default())  # what importing torch._dynamo does
    problem = Problem(relay_2k, parse_model("siren"), 5, 3, TrainConfig(steps=3))  # a shape no other test compiles
    assert train(problem.ensemble(1), relay_2k, problem.train, progress=False, compile=True).compiled
    assert any(path.is_file() for path in (tmp_path / "inr-bench" / "torch-compile").rglob("*"))
