"""One benchmark run: build the task and the ensembles, train them, and turn the outcome into result rows."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import torch

from bench.models import MemberSpec, build_ensemble
from bench.provenance import provenance
from bench.tasks import Task
from bench.train import TrainConfig, train


@dataclass(frozen=True)
class Architecture:
    """width: hidden units per layer (H); layers: hidden layers (L), so L + 1 linear layers."""

    width: int
    layers: int

    def sizes(self, task: Task) -> list[int]:
        return [task.info.d_in] + [self.width] * self.layers + [task.info.d_out]


def run_members(task: Task, specs: list[MemberSpec], arch: Architecture, cfg: TrainConfig,
                device: torch.device, progress: bool = True, debug: bool = False) -> Iterator[dict[str, Any]]:
    """Train ``specs`` as ensembles (one per activation) and yield one result row per member.

    An exception while training an ensemble becomes rows with status "error" (re-raised with debug).
    """
    by_activation: dict[Any, list[MemberSpec]] = {}
    for spec in specs:
        by_activation.setdefault(spec.model.entry.meta["activation"], []).append(spec)
    on_device = task.to(device)
    for group in by_activation.values():
        model, used = build_ensemble(group, arch.sizes(task), task.info)
        base = _base_columns(task, arch, cfg, device) | {"ensemble_size": len(group),
                                                           "n_params": model.member_parameters()}
        try:
            outcome = train(model.to(device), on_device, cfg, progress)
        except Exception as exc:
            if debug:
                raise
            message = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".strip()
            for spec, params in zip(group, used):
                yield base | _member_columns(spec, params) | {"status": "error", "error": message}
            continue
        samples = cfg.batch_size if cfg.batch_size and cfg.batch_size < task.size else task.size
        flop_per_step = 6 * samples * model.matmul_macs()  # forward 2 + backward 4 FLOPs per MAC
        for spec, params, member in zip(group, used, outcome.members):
            yield base | _member_columns(spec, params) | {
                "status": member.status,
                task.metric: member.final,
                f"best_{task.metric}": member.best,
                "best_step": member.best_step,
                "diverged_step": member.diverged_step,
                "steps_per_s": outcome.steps_per_s,
                "samples_per_s": outcome.steps_per_s * samples,
                "gflop_per_s": outcome.steps_per_s * flop_per_step / 1e9,
                "seconds": outcome.seconds,
                "error": None,
            }


def _base_columns(task: Task, arch: Architecture, cfg: TrainConfig, device: torch.device) -> dict[str, Any]:
    return ({"task": task.name, "signal": task.signal} | task.meta | asdict(arch) | asdict(cfg)
            | provenance(device))


def _member_columns(spec: MemberSpec, params: dict[str, Any]) -> dict[str, Any]:
    return {"model": spec.model.entry.name, "model_spec": spec.model.label, "seed": spec.seed} | {
        f"param.{key}": value for key, value in params.items()}
