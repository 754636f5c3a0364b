"""The training settings, declared once: each field of ``TrainConfig`` with its type, domain, default and
help. Everything else follows from this declaration: the command-line flags (``bench.cli.run``), the checks
of a spec's [train] table, the cell key (``key_settings``), the row's columns, the settings members of one
ensemble may differ in (``PER_MEMBER``) and the settings tables never pool (``bench.report.tables``).

A new setting is one more field here: ``field(default=..., metadata=setting("what it does"))``. Its cells
keep the keys they had while it stays at its default (a key names a new setting only when set otherwise).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Annotated, Any

from bench.core.columns import declare_settings
from bench.core.errors import UsageError
from bench.models import PRECISIONS
from bench.core.registry import Bound, OneOf, PositiveFloat, declared_params

# counts a run can hold (steps and points index tensors; a seed is numpy's and torch's 64-bit one): larger
# values are refused where they come in, not after training when a row cannot store them
Count = Annotated[int, Bound(1, high=2**31)]
Seed64 = Annotated[int, Bound(0, high=2**63)]


def setting(help: str, per_member: bool = False, always_keyed: bool = False) -> dict[str, Any]:
    """A field's declaration: ``help`` (the flag's help, with the default added), ``per_member`` (members of
    one ensemble may differ in it, see ``bench.training.member_adam``), ``always_keyed`` (the settings of the
    first version: every cell key names them, at their default too; any later one only when set otherwise)."""
    return {"help": help, "per_member": per_member, "always_keyed": always_keyed}


@dataclass(frozen=True)
class TrainConfig:
    """How an ensemble trains; each setting's help is in its declaration below."""

    steps: Count = field(default=300, metadata=setting("optimizer steps", always_keyed=True))
    lr: PositiveFloat = field(default=1e-4, metadata=setting(
        "Adam learning rate, e.g. 1e-4 or 1e-4,3e-4,1e-3 (members of several rates share ensembles)",
        per_member=True, always_keyed=True))
    lr_step: Count | None = field(default=None, metadata=setting(
        "StepLR step size in steps (none: no schedule)", per_member=True, always_keyed=True))
    lr_gamma: PositiveFloat = field(default=1.0, metadata=setting("StepLR decay factor", per_member=True,
                                                                  always_keyed=True))
    batch_size: Count | None = field(default=None, metadata=setting("points per step (none: full batch)",
                                                                          always_keyed=True))
    eval_every: Count = field(default=100, metadata=setting(
        "steps between full-signal metrics when training on minibatches (full batch reads them off each step)",
        always_keyed=True))
    batch_seed: Seed64 = field(default=0, metadata=setting("seed of the minibatch order", always_keyed=True))
    precision: Annotated[str, OneOf(*PRECISIONS)] = field(default="fp32", metadata=setting(
        "matmul precision of layers 1.. (layer 0 stays exact float32; see bench.models.Ensemble)"))

    def __post_init__(self):
        if self.precision not in PRECISIONS:  # the one text setting: a typo must not pass as a new cell
            raise UsageError(f"unknown precision {self.precision!r}; choose one of {', '.join(PRECISIONS)}")


TRAIN_PARAMS = declared_params(TrainConfig, kind="training settings")  # each setting's type and domain
SETTINGS = {f.name: f.metadata for f in fields(TrainConfig)}  # each setting's declaration, in order
PER_MEMBER = tuple(name for name, declared in SETTINGS.items() if declared["per_member"])
declare_settings(SETTINGS)  # each is a column of every row (``bench.core.columns``)


def key_settings(train: TrainConfig) -> dict[str, Any]:
    """The settings a cell key names: those always keyed, and every other one set to another value than its
    default (so that adding a setting leaves the keys of existing cells as they were)."""
    return {name: value for name, value in asdict(train).items()
            if SETTINGS[name]["always_keyed"] or value != TRAIN_PARAMS[name].default}


def shared_settings(train: TrainConfig) -> tuple:
    """The training settings every member of an ensemble must share: all but the ``PER_MEMBER`` ones."""
    return tuple((key, value) for key, value in asdict(train).items() if key not in PER_MEMBER)
