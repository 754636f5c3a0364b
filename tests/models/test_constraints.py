"""Schemes that keep their weights bounded during training (``Member.keep_within``, ``Ensemble.project``):
the bound holds after every step, binds where training would cross it, and a bounded member trains in an
ensemble exactly as it trains alone, beside members bounded otherwise or not at all."""

import pytest
import torch

from bench.core.errors import UsageError
from bench.core.registry import PositiveFloat
from bench.models import Architecture, Member, MemberSpec, SignalInfo, build_ensemble, parse_model, register_model
from bench.models.siren import siren
from bench.training import TrainConfig, train


HIDDEN_BOUND = 0.025  # SIREN's hidden weights start within sqrt(6/16)/30 = 0.0204; 80 steps at lr 1e-3 reach 0.029


def bounded_siren_scheme():
    @register_model()
    def bounded_siren(m: Member, bound: PositiveFloat = HIDDEN_BOUND) -> dict:
        """SIREN with layer 1's weights kept in [-bound, bound], one row unbounded."""
        used = siren(m)
        rows = torch.full((m.weights[1].shape[0], 1), bound)
        rows[0] = float("inf")
        m.keep_within(1, rows)
        return used


def fitted(task, models: list[str], seeds: list[int], steps: int = 80):
    arch = Architecture.of(task.info, 16, 2)
    model, _ = build_ensemble([MemberSpec(parse_model(name), seed) for name, seed in zip(models, seeds)],
                              arch, task.info)
    outcome = train(model, task, TrainConfig(steps=steps, lr=1e-3), progress=False)
    return [w.detach().clone() for w in model.weights], [m.final for m in outcome.members]


def test_a_bounded_layer_stays_within_its_bound_and_the_bound_binds(relay_2k):
    bounded_siren_scheme()
    (weights, _), (free, _) = fitted(relay_2k, ["bounded_siren"], [0]), fitted(relay_2k, ["siren"], [0])
    layer = weights[1][0]
    assert layer[1:].abs().max() <= HIDDEN_BOUND  # every bounded row
    assert (layer[1:].abs() == HIDDEN_BOUND).sum() > 0  # some weights sit on the bound...
    assert free[1][0][1:].abs().max() > HIDDEN_BOUND  # ...because unbounded training crosses it


@pytest.mark.slow
def test_a_bounded_member_in_an_ensemble_equals_its_solo_run(relay_2k):
    bounded_siren_scheme()
    weights, finals = fitted(relay_2k, ["bounded_siren", "siren", "bounded_siren:bound=0.022"], [0, 1, 2])
    for k, name, seed in ((0, "bounded_siren", 0), (1, "siren", 1), (2, "bounded_siren:bound=0.022", 2)):
        solo_weights, solo_finals = fitted(relay_2k, [name], [seed])
        assert all(torch.equal(w[k], s[0]) for w, s in zip(weights, solo_weights)), name
        assert finals[k] == solo_finals[0], name


@pytest.mark.parametrize("bound, message, layer", [
    (torch.ones(3, 3), "does not broadcast", 1),
    (0.1, "layer -1 does not exist; this network's linear layers are 0..2", -1),
    (0.1, "layer 3 does not exist", 3),
    (-1.0, "must be >= 0", 1),
    (float("nan"), "must be >= 0", 1),
])
def test_a_bad_bound_is_a_usage_error_naming_the_layer(relay_2k, bound, message, layer):
    member = Member(Architecture.of(relay_2k.info, 16, 2).layers_of(parse_model("siren").entry.meta["plan"]), 0,
                    relay_2k.info)
    with pytest.raises(UsageError, match=message):
        member.keep_within(layer, bound)


def official_clamp(state_dict, bound, omega_0):
    """Transcription of DianaPat/TUNER @ 3a08967, training/optimizers.py lines 37-48 (prepare_bounds, the branch
    of one bound per middle layer plus one, which train_mrnet.py line 40 takes with torch.tensor([1.0, 0.4]) for
    its one middle layer) and lines 17-28 (clamp, after every optimizer step)."""
    bounds = [b / omega_0 for b in bound]
    i = 0
    for name, weight in state_dict.items():
        if 'middle' in name and 'weight' in name:
            b = bounds[i]
            new_weight = torch.clamp(weight, min=-b, max=b)
            with torch.no_grad():
                weight.copy_(new_weight)
            i += 1


class OfficialMiddleLayer(torch.nn.Module):
    """How a bounded middle layer of DianaPat/TUNER @ 3a08967 holds its parameters: ``bound`` made in its
    __init__ (networks/siren.py lines 59-61), its ``linear`` child, and the ``weight`` that
    MRBoundedModule.forward assigns to it at every forward (networks/mrnet.py lines 233-237)."""

    def __init__(self, matrix, omega_0=30.0):
        super().__init__()
        self.omega_0 = omega_0
        self.linear = torch.nn.Linear(matrix.shape[1], matrix.shape[0])
        with torch.no_grad():
            self.linear.weight.copy_(matrix)
        self.bound = torch.nn.Parameter(torch.full((matrix.shape[0],), 0.5))

    def forward(self, x):
        self.weight = torch.nn.Parameter(self.bound * (30 / self.omega_0) * torch.tanh(self.linear.weight * self.omega_0))
        return torch.sin(self.omega_0 * self.linear(x))


def test_tuner_clamps_its_first_hidden_matrix_after_a_step_as_the_official_handler_does():
    """train_mrnet.py's model is an MRBoundedModule (networks/mrnet.py lines 267-268: its hyper['bounds'] is set),
    whose forward registers each middle layer's ``weight``, unused, ahead of its ``linear.weight`` in the state
    dict; so the handler's first bound, 1.0 / 30, goes to that unused tensor and the second, 0.4 / 30, to the
    whole first hidden matrix, one scalar for every column. The state dict is that of a module holding its
    parameters as the official one does, after one forward. Ours: Ensemble.project, what the loop runs after a step."""
    signal = SignalInfo("image", d_in=2, d_out=3, centroid=0.3)
    model, _ = build_ensemble([MemberSpec(parse_model("tuner"), 0)], Architecture(2, 64, 2, 3), signal)
    generator = torch.Generator().manual_seed(0)
    x, y = torch.rand(256, 2, generator=generator) * 2 - 1, torch.rand(256, 3, generator=generator)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    ((model(x)[0] - y) ** 2).mean().backward()
    optimizer.step()
    stepped, frequencies = model.weights[1][0].detach().clone(), model.weights[0][0].detach().clone()
    model.project()
    assert torch.equal(model.weights[0][0], frequencies)  # the first layer is not clamped
    stage = torch.nn.Module()
    stage.first_layer = torch.nn.Linear(2, 64)
    stage.middle_layers = torch.nn.ModuleList([OfficialMiddleLayer(stepped)])
    stage.final_linear = torch.nn.Linear(64, 3)
    official = torch.nn.Module()
    official.stages = torch.nn.ModuleList([stage])
    with torch.no_grad():
        stage.final_linear(stage.middle_layers[0](stage.first_layer(x)))
    state = official.state_dict()
    assert list(state).index("stages.0.middle_layers.0.weight") < list(state).index(
        "stages.0.middle_layers.0.linear.weight")  # the order the handler's bounds follow
    official_clamp(state, torch.tensor([1.0, 0.4]), 30)
    assert torch.equal(model.weights[1][0], state["stages.0.middle_layers.0.linear.weight"])
    low = (model.weights[0][0] / (torch.pi / 2)).round().abs().amax(dim=1) <= 10  # columns drawn with c_j = 1.0
    assert low.any() and (stepped[:, low].abs() > 0.4 / 30).any()  # the one bound binds there too
