"""Members of different learning rates and schedules in one ensemble: each gets the updates of its lone
run (torch's Adam and StepLR), bit for bit on the CPU, resumed from a checkpoint too."""

import pytest
import torch

from bench.models import Architecture, MemberSpec, build_ensemble, parse_model
from bench.training import TrainConfig, train
from bench.training.checkpoint import Checkpoint
from bench.training.member_adam import MemberAdam, MemberStepLR


RATES = [TrainConfig(steps=40, lr=1e-3, lr_step=5, lr_gamma=0.9), TrainConfig(steps=40, lr=3e-4),
         TrainConfig(steps=40, lr=1e-4, lr_step=3, lr_gamma=0.95)]


def test_member_adam_steps_each_member_as_torch_adam_and_step_lr_step_it_alone():
    generator = torch.Generator().manual_seed(0)
    start = torch.randn(3, 16, 8, generator=generator)
    stacked = torch.nn.Parameter(start.clone())
    optimizer = MemberAdam([stacked], [c.lr for c in RATES])
    schedule = MemberStepLR(optimizer, [c.lr_step for c in RATES], [c.lr_gamma for c in RATES])
    alone = [torch.nn.Parameter(start[k:k + 1].clone()) for k in range(3)]
    optimizers = [torch.optim.Adam([p], lr=c.lr) for p, c in zip(alone, RATES)]
    schedules = [torch.optim.lr_scheduler.StepLR(o, c.lr_step, c.lr_gamma) if c.lr_step else None
                 for o, c in zip(optimizers, RATES)]
    for _ in range(50):
        grads = torch.randn(3, 16, 8, generator=generator) * torch.rand(3, 1, 1, generator=generator)
        stacked.grad = grads.clone()
        optimizer.step()
        schedule.step()
        for k in range(3):
            alone[k].grad = grads[k:k + 1].clone()
            optimizers[k].step()
            if schedules[k]:
                schedules[k].step()
    assert all(torch.equal(stacked[k], alone[k][0]) for k in range(3))
    assert optimizer.param_groups[0]["lrs"] == [o.param_groups[0]["lr"] for o in optimizers]


def ensemble(task, seeds):
    specs = [MemberSpec(parse_model("siren"), seed) for seed in seeds]
    return build_ensemble(specs, Architecture.of(task.info, 16, 2), task.info)[0]


def test_a_member_of_its_own_rate_in_an_ensemble_equals_its_lone_run(relay_2k):
    model = ensemble(relay_2k, [0, 1, 2])
    together = train(model, relay_2k, RATES[0], progress=False, member_rates=RATES)
    for k, rate in enumerate(RATES):
        lone_model = ensemble(relay_2k, [k])
        lone = train(lone_model, relay_2k, rate, progress=False)
        assert all(torch.equal(w[k], v[0]) for w, v in zip(model.weights, lone_model.weights)), k
        assert together.members[k].final == lone.members[0].final
        assert together.members[k].curve == lone.members[0].curve


@pytest.mark.parametrize("saves", [7, 23])
def test_per_member_rates_resume_from_a_checkpoint_with_the_uninterrupted_numbers(relay_2k, tmp_path, saves):
    from tests.training.test_training import _SavesUntil

    whole = train(ensemble(relay_2k, [0, 1, 2]), relay_2k, RATES[0], progress=False, member_rates=RATES)
    path = tmp_path / "run.pt"
    train(ensemble(relay_2k, [0, 1, 2]), relay_2k, RATES[0], progress=False, member_rates=RATES,
          checkpoint=_SavesUntil(path, saves=saves))
    resumed = train(ensemble(relay_2k, [0, 1, 2]), relay_2k, RATES[0], progress=False, member_rates=RATES,
                    checkpoint=Checkpoint(path, every_s=1e9))
    for a, b in zip(whole.members, resumed.members):
        assert (a.final, a.best, a.best_step, a.curve) == (b.final, b.best, b.best_step, b.curve)
