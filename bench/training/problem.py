"""A training problem: what is trained, on what, and how, without the members' seeds."""

from __future__ import annotations

from dataclasses import dataclass, replace

from bench.models import Architecture, Ensemble, MemberSpec, ModelChoice, build_ensemble
from bench.tasks import Task
from bench.training.loop import TrainConfig


@dataclass(frozen=True)
class Problem:
    """task: the loaded task, on the device it trains on; model: the init scheme with the parameters the
    user set; width, layers: the hidden width and number of hidden layers of the network; train: the
    training settings. Every member of an ensemble trained on it shares all of these."""

    task: Task
    model: ModelChoice
    width: int
    layers: int
    train: TrainConfig

    @property
    def architecture(self) -> Architecture:
        return Architecture.of(self.task.info, self.width, self.layers)

    def ensemble(self, members: int) -> Ensemble:
        """``members`` members with seeds 0..members-1, on the task's device."""
        specs = [MemberSpec(self.model, seed) for seed in range(members)]
        ensemble, _ = build_ensemble(specs, self.architecture, self.task.info)
        return ensemble.to(self.task.coords.device)

    def with_model(self, model: ModelChoice) -> Problem:
        return replace(self, model=model)

    def with_train(self, train: TrainConfig) -> Problem:
        return replace(self, train=train)
