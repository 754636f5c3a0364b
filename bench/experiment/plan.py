"""The plan: a spec expanded into cells (one cell = one trained member, with a stable key), and cells
packed into jobs (one job = one batched ensemble: same task, signal, options, architecture, training)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from bench.models import MemberSpec, ModelChoice, width_for_budget
from bench.signals.info import SignalInfo
from bench.experiment.spec import Spec
from bench.training import TrainConfig
from bench.training.config import key_settings, shared_settings

DEFAULT_MAX_MEMBERS = 16  # most members per ensemble when neither the user nor the spec fixes it
# Part of every cell key; raised whenever the way a target is made from its file changes, so that results
# of the old rule become other cells. 2: audio divided by the whole clip's peak before truncation, image
# centroid over the raster-flattened pixels (both as the official SIREN² code does).
TARGET_REVISION = 2


_SEED = "\x00seed\x00"  # stands for the seed in the cached key text (json writes it as "\u0000seed\u0000")


def _key_text_around_seed(task: str, signal: str, options: tuple, width: int | None, layers: int, train: TrainConfig,
                          model: str, params: tuple, fingerprint: str, budget: int | None) -> tuple[str, str]:
    """The JSON a cell key hashes, cut where the seed goes: cells that differ only by seed (most of a grid)
    share the rest, so a grid of a million cells is keyed in seconds, not minutes. Cached by the arguments'
    repr, which tells 1 from 1.0 and 0.0 from -0.0 where equality would not (their JSON differs)."""
    return _key_text(repr((task, signal, options, width, layers, train, model, params, fingerprint, budget)),
                     task, signal, options, width, layers, train, model, params, fingerprint, budget)


@lru_cache(maxsize=4096)
def _key_text(_identity: str, task: str, signal: str, options: tuple, width: int | None, layers: int,
              train: TrainConfig, model: str, params: tuple, fingerprint: str, budget: int | None) -> tuple[str, str]:
    content = {"task": task, "signal": signal, "options": dict(options), "width": width, "layers": layers,
               "train": key_settings(train), "model": model, "params": dict(params), "seed": _SEED,
               "content": fingerprint, "revision": TARGET_REVISION}
    if budget is not None:  # a budget's cell is the budget, whatever width it resolves to (keys of widths stay)
        content |= {"width": None, "param_budget": budget}
    head, tail = json.dumps(content, sort_keys=True).split(json.dumps(_SEED))
    return head, tail


@dataclass(frozen=True)
class Cell:
    """One member to train: task ``task:signal`` with ``options``, an L x H net, a model and a seed.
    ``fingerprint`` identifies the signal's content (``SignalLibrary.fingerprint``). With a ``param_budget``
    the width is the one that meets it (``bench.models.width_for_budget``): None until ``with_width``
    resolves it on the loaded task; the key names the budget, not the width."""

    task: str
    signal: str
    options: tuple[tuple[str, Any], ...]
    width: int | None
    layers: int
    train: TrainConfig
    model: ModelChoice
    seed: int
    fingerprint: str
    param_budget: int | None = None
    key: str = field(init=False, compare=False, repr=False)
    """16 hex digits of sha256 over everything that changes the result (not the device or the time)."""

    def __post_init__(self):
        head, tail = _key_text_around_seed(self.task, self.signal, self.options, self.width, self.layers, self.train,
                                           self.model.entry.name, tuple(sorted(self.model.params.items())),
                                           self.fingerprint, self.param_budget)
        object.__setattr__(self, "key", hashlib.sha256(f"{head}{self.seed}{tail}".encode()).hexdigest()[:16])

    @property
    def task_key(self) -> tuple:
        """What identifies the loaded task (target and coordinates)."""
        return self.task, self.signal, self.options

    @property
    def member(self) -> MemberSpec:
        return MemberSpec(self.model, self.seed)

    def with_width(self, info: SignalInfo) -> Cell:
        """This cell with its budget's width for a signal of ``info``'s shape (as it is without a budget, or
        once resolved)."""
        if self.param_budget is None or self.width is not None:
            return self
        width, _ = width_for_budget(self.model, info.d_in, self.layers, info.d_out, self.param_budget)
        return replace(self, width=width)


@dataclass(frozen=True)
class Job:
    """Cells trained together as one ensemble."""

    cells: tuple[Cell, ...]

    def __len__(self) -> int:
        return len(self.cells)


def cell_count(spec: Spec) -> int:
    """How many cells ``expand`` gives, without expanding."""
    targets = {(grid.task, *target) for grid in spec.tasks for target in grid.targets}
    return len(targets) * len(sizes(spec)) * len(spec.layers) * len(spec.trains) * len(spec.models) * len(spec.seeds)


def sizes(spec: Spec) -> list[tuple[int | None, int | None]]:
    """The network sizes of a spec as (width, param_budget) pairs: its widths, or its budgets."""
    return [(width, None) for width in spec.widths] + [(None, budget) for budget in spec.budgets]


def expand(spec: Spec) -> list[Cell]:
    """Every cell of the grid: tasks x signals x options x widths x layers x training settings x models x seeds, each once
    (a value listed twice, e.g. S0 = [0.1, 1e-1], gives one cell)."""
    cells = (
        Cell(grid.task, target.signal, target.options, width, layers, train, model, seed, target.fingerprint,
             budget)
        for grid in spec.tasks for target in grid.targets
        for width, budget in sizes(spec) for layers in spec.layers for train in spec.trains for model in spec.models
        for seed in spec.seeds
    )
    return list({cell.key: cell for cell in cells}.values())


def pack(cells: list[Cell], max_members: int) -> list[Job]:
    """Group cells that can share an ensemble (same task, options, architecture, network plan and training
    settings but the per-member ones: ``bench.training.config.PER_MEMBER``), in first-seen order, and split each
    group into the
    fewest jobs of at most ``max_members`` cells."""
    groups: dict[tuple, list[Cell]] = {}
    for cell in cells:
        key = (cell.task_key, cell.width, cell.param_budget, cell.layers, shared_settings(cell.train),
               cell.model.plan)
        groups.setdefault(key, []).append(cell)
    return [part for group in groups.values() for part in split(Job(tuple(group)), max_members)]


def split(job: Job, max_members: int) -> list[Job]:
    """``job`` as the fewest jobs of at most ``max_members`` cells, of near-equal size, in order."""
    parts = -(-len(job) // max_members)
    bounds = [round(i * len(job) / parts) for i in range(parts + 1)]
    return [Job(job.cells[lo:hi]) for lo, hi in zip(bounds, bounds[1:])]
