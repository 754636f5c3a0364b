"""Fair comparisons: each model's learning rate and parameters chosen on a tuning split, then judged on a
test split it was never chosen on. A spec's [tune] section (``Tuning``) names the values to try; the sweep
trains them on the tuning seeds (and tuning signals, when given) into OUT/tuning, ``choose`` picks each
model's best per task by the tuning metric from those rows alone, writes OUT/chosen.json, and then the spec's own
seeds and signals train at the chosen values and at the defaults into OUT/test."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import pandas as pd

from bench.core.errors import BenchError, UsageError
from bench.core.metrics import declared
from bench.models import ModelChoice
from bench.core.status import DIVERGED, FINISHED
from bench.experiment.plan import Cell, expand
from bench.experiment.spec import Spec
from bench.training import TrainConfig

TUNING_DIR, TEST_DIR, CHOSEN_FILE = "tuning", "test", "chosen.json"
SPEC_COPY = "spec.toml"  # the tuned sweep's spec, kept in OUT (the report reads it back)


def tuning_spec(spec: Spec) -> Spec:
    """The tuning split as a spec of its own: every variant of every model at every training setting tried,
    on the tuning seeds and the tuning tasks (or the spec's tasks)."""
    tune = spec.tune
    models = tuple(choice for _, variants in tune.models for choice in variants)
    return replace(spec, name=f"{spec.name}-tuning", models=models, trains=tune.trains, seeds=tune.seeds,
                   tasks=tune.tasks or spec.tasks, ntk=None, tune=None)


def check_metric(spec: Spec, tasks: dict) -> None:
    """Refuse a ``tune.metric`` that one of the loaded ``tasks`` ({task key: Task}) does not record, before the
    tuning split trains (choosing by it would fail after)."""
    metric = spec.tune.metric
    for (name, _, _), task in tasks.items():
        if metric is not None and metric not in task.metrics:
            raise UsageError(f"spec {spec.name}: tune.metric: task {name} does not record {metric} (it records "
                             f"{', '.join(task.metrics)}); name one of those, or leave tune.metric out for each "
                             f"task's main metric")


@dataclass(frozen=True)
class Choice:
    """One model's choice for one task: the variant (parameters) and training settings with the best mean
    tuning metric on that task's tuning signals, and every variant's mean (``scores``: rows of model_spec,
    the tuned settings, mean, cells)."""

    model: str
    task: str
    chosen: ModelChoice
    train: TrainConfig
    metric: str
    score: float
    scores: list[dict]


def choose(spec: Spec, rows: pd.DataFrame) -> list[Choice]:
    """Each model's best variant per task on the tuning split, from ``rows`` of the tuning cells only: rows of
    any other cell (a test cell) are dropped before anything is read. A variant's score is the mean of the
    metric over its tuning cells of that task (seeds x signals); a diverged cell scores the worst. Ties go to
    the variant tried first. Every tuning cell must have finished (rerun the sweep otherwise)."""
    cells = expand(tuning_spec(spec))
    rows = rows[rows["cell_key"].isin({cell.key for cell in cells}) & rows["status"].isin(FINISHED)]
    rows = rows.drop_duplicates("cell_key", keep="last").set_index("cell_key")
    missing = [cell for cell in cells if cell.key not in rows.index]
    if missing:
        raise BenchError(f"{len(missing)} tuning cells have no result (e.g. {missing[0].model.label} seed "
                         f"{missing[0].seed} on {missing[0].signal}); rerun the sweep to train them")
    tuned_keys = tuned_settings(spec) or ["lr"]
    choices = []
    for task, label, variants in ((t, label, v) for t in dict.fromkeys(c.task for c in cells)
                                  for label, v in spec.tune.models):
        metric = spec.tune.metric or str(rows.loc[[c.key for c in cells if c.task == task], "main_metric"].iloc[0])
        if metric not in rows or rows.loc[[c.key for c in cells if c.task == task], metric].isna().all():
            raise BenchError(f"tune.metric {metric} is not recorded by task {task}; leave it out (the task's main "
                             f"metric) or name one of the task's metrics (bench list tasks)")
        sign = 1.0 if declared(metric).higher_is_better else -1.0
        scores = []
        for variant in variants:
            for train in spec.tune.trains:
                keys = [c.key for c in cells if c.task == task and c.model == variant and c.train == train]
                values = rows.loc[keys, metric] if metric in rows else pd.Series(dtype=float)
                usable = len(values) and values.notna().all() and (rows.loc[keys, "status"] != DIVERGED).all()
                score = float(values.mean()) if usable else -sign * math.inf
                scores.append({"model_spec": variant.label, **{k: getattr(train, k) for k in tuned_keys},
                               "mean": score, "cells": len(keys), "_variant": variant, "_train": train})
        best = max(scores, key=lambda s: sign * s["mean"])  # max keeps the first of equals
        choices.append(Choice(label, task, best["_variant"], best["_train"], metric, best["mean"],
                              [{k: v for k, v in s.items() if not k.startswith("_")} for s in scores]))
    return choices


def tuned_settings(spec: Spec) -> list[str]:
    """The training settings the tuning tries several values of (``lr``, ...), in TrainConfig's order."""
    return [key for key in asdict(spec.tune.trains[0]) if len({getattr(t, key) for t in spec.tune.trains}) > 1]


def test_cells(spec: Spec, choices: list[Choice]) -> list[Cell]:
    """The test split: the spec's own grid at its defaults, and each model at its chosen values (one cell
    where the two coincide)."""
    cells = expand(replace(spec, tune=None))
    for choice in choices:
        cells += expand(chosen_spec(spec, choice))
    return list({cell.key: cell for cell in cells}.values())


def chosen_spec(spec: Spec, choice: Choice) -> Spec:
    """The test split of one choice: its model at its settings on the tasks of its task."""
    return replace(spec, models=(choice.chosen,), trains=(choice.train,), tune=None,
                   tasks=tuple(grid for grid in spec.tasks if grid.task == choice.task))


def write_chosen(out: Path, choices: list[Choice]) -> None:
    """OUT/chosen.json: per model and task, the chosen parameters and settings, its tuning score, and every
    variant's."""
    from bench.core.files import write_atomically

    record = [{"model": c.model, "task": c.task, "chosen": c.chosen.label, "train": asdict(c.train), "metric": c.metric,
               "tuning_mean": c.score, "tried": c.scores} for c in choices]
    write_atomically(out / CHOSEN_FILE, json.dumps(record, indent=2, default=float) + "\n")
