"""A member's numbers depend on its cell alone: not on the ensemble it trains in or the thread count."""

from __future__ import annotations

import pytest
import torch

from bench.models import Architecture, MemberSpec, build_ensemble, parse_model
from bench.training import Problem, TrainConfig, train


def _finals(problem: Problem, size: int, threads: int) -> list[float]:
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        outcome = train(problem.ensemble(size), problem.task, problem.train, progress=False)
    finally:
        torch.set_num_threads(before)
    return [member.curve for member in outcome.members][:1]


def test_eager_numbers_do_not_depend_on_the_ensemble_size_or_the_thread_count(relay_2k):
    """What lets the ensemble size and --threads be chosen by timing on a CPU: member 0's whole curve is the
    same bit for bit in ensembles of 1, 3 and 8 members and with 1 or 2 threads."""
    problem = Problem(relay_2k, parse_model("siren"), 32, 2, TrainConfig(steps=30, lr=3e-4))
    reference = _finals(problem, 1, 1)
    for size, threads in ((3, 1), (8, 1), (1, 2), (3, 2), (8, 2)):
        assert _finals(problem, size, threads) == reference, (size, threads)


def _ensemble(task, seeds, width=32, layers=3):
    specs = [MemberSpec(parse_model("siren"), seed) for seed in seeds]
    return build_ensemble(specs, Architecture.of(task.info, width, layers), task.info)[0]


@pytest.mark.parametrize("ensemble_size", [1, 3])
def test_a_member_computes_the_same_numbers_whatever_the_ensemble_size(relay_2k, ensemble_size):
    """The measured ensemble size must not change results: at lr 1e-3 a 1-ulp difference grows into dB."""
    def final(size: int) -> float:
        model = _ensemble(relay_2k, seeds=range(size), width=32, layers=3)
        return train(model, relay_2k, TrainConfig(steps=60, lr=1e-3), progress=False).members[0].final

    assert final(ensemble_size) == final(2)
