"""Reconstructions: what a sweep's members fitted, kept to look at.

For each setting of a results folder (task, signal, options, size, training and model: a cell but its seed)
the member at the median seed by the task's table metric is trained again from its cell. A cell's numbers
depend on the cell alone (docs/results.md), so the rerun fits what its row measured, and its metric is
checked against the row's (``Reconstruction.difference``). Its output at every point of the signal is kept
with the reference beside the rows (``bench.core.artifacts``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd
import torch

from bench.core.errors import UsageError
from bench.core.artifacts import artifact_path, read_artifact, write_artifact
from bench.core.status import OK
from bench.experiment.execute import JobRunner
from bench.experiment.plan import Cell, Job, expand
from bench.experiment.run import load_tasks, results_lock, stored_spec
from bench.experiment.store import read_results
from bench.signals.library import SignalLibrary
from bench.tasks import Task, load_builtin_tasks



@dataclass(frozen=True)
class Reconstruction:
    """A member trained again: its cell key, its setting's labels, the metric its row stored and the rerun's."""

    cell_key: str
    signal: str
    model_spec: str
    metric: str
    stored: float
    rerun: float
    path: Path

    @property
    def difference(self) -> float:
        """rerun - stored, in the metric's unit (0 where both are the same non-finite value)."""
        return 0.0 if self.stored == self.rerun else self.rerun - self.stored


def median_cells(rows: pd.DataFrame, cells: list[Cell]) -> list[Cell]:
    """Per setting (a cell but its seed) with finished rows, the cell of its lower-median seed by the row's
    main metric (ties: the lower seed); settings whose task has no grid to draw are left to the caller."""
    by_key = {cell.key: cell for cell in cells}
    ok = rows[(rows["status"] == OK) & rows["cell_key"].isin(by_key)]
    chosen = []
    for _, group in ok.groupby([ok["cell_key"].map(lambda key: _setting(by_key[key]))], sort=False):
        metric = group["main_metric"].iloc[0]
        ordered = group.assign(_value=group[metric].astype(float)).sort_values(["_value", "seed"], na_position="first")
        chosen.append(by_key[ordered["cell_key"].iloc[(len(ordered) - 1) // 2]])
    return chosen


def _setting(cell: Cell) -> tuple:
    return cell.task_key, cell.width, cell.param_budget, cell.layers, cell.train, cell.model.label


def drawable(task: Task) -> bool:
    """Whether a task's signal lies on a 1-D or 2-D grid (a clip or an image), which the report can draw."""
    return task.grid is not None and len(task.grid) in (1, 2)


def reconstruct(folder: str | Path, library: SignalLibrary | None = None, device: torch.device | str = "cpu",
                say: Callable[[str], None] = print) -> list[Reconstruction]:
    """Train again the median-seed member of every setting of the sweep in ``folder`` whose signal is a clip
    or an image, and keep its output (``artifact_path``); a member kept for its row as the row stands is not
    trained again (a row made anew since, by ``--retrain-changed``, is).
    Returns what was kept, in the order trained. Training runs on ``device`` at the caller's thread count: rows
    made on another device kind, thread count (where it matters, see docs/results.md) or torch may differ."""
    folder = Path(folder)
    library = library or SignalLibrary()
    spec = stored_spec(folder, library)
    if spec is None:
        raise UsageError(f"{folder} keeps no sweep spec (_spec.toml); bench reconstruct retrains the cells of a "
                         f"sweep folder: point at one")
    rows = read_results(folder)
    chosen = median_cells(rows, expand(spec))
    if not chosen:
        raise UsageError(f"{folder} has no finished rows of its spec to reconstruct; run the sweep first")
    tasks = load_tasks(spec, library)
    runner = JobRunner(tasks, progress=False).on(torch.device(device))
    stored = rows.set_index("cell_key")
    made = []
    with results_lock(folder):
        for cell in chosen:
            task = runner.tasks[cell.task_key]
            path = artifact_path(folder, cell.key)
            if not drawable(task):
                continue
            if path.is_file():
                kept = _read(path)
                if _same(kept.stored, float(stored.at[cell.key, kept.metric])):
                    made.append(kept)
                    continue  # else the row was trained again since (--retrain-changed): so is its fit
            changed = _changed_code(cell, stored.loc[cell.key])
            if changed:
                say(f"{cell.task}:{cell.signal} {cell.model.label}: not trained again, since the code of {changed} "
                    f"changed since its row was made; bench sweep --retrain-changed first")
                continue
            job = runner.sized(Job((cell,)), task)
            fitted = runner.fit_cells(task, job.cells, batch=runner.batch_of(job, task))
            metric = stored.at[cell.key, "main_metric"]
            rerun = float(task.evaluate(fitted.model)[metric][0])
            kept = Reconstruction(cell.key, cell.signal, cell.model.label, metric,
                                  float(stored.at[cell.key, metric]), rerun, path)
            _write(kept, task, fitted.model, int(stored.at[cell.key, "seed"]))
            say(f"{cell.task}:{cell.signal} {cell.model.label} seed {cell.seed}: {metric} {rerun:.4f} "
                f"(row {kept.stored:.4f}) -> {path}")
            made.append(kept)
    return made


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def _changed_code(cell: Cell, row: pd.Series) -> str | None:
    """The scheme or task whose code differs from the code that made ``row`` (its fingerprints), or None."""
    for what, column, now in ((cell.model.entry.name, "model_code", cell.model.code),
                              (cell.task, "task_code", load_builtin_tasks().get(cell.task).code)):
        if column in row and isinstance(row[column], str) and row[column] != now:
            return what
    return None


def _whole(task: Task) -> tuple[torch.Tensor, torch.Tensor]:
    """Every point of the task's signal and the reference there (held-out points included), in grid order."""
    held = task.held_out
    return (task.coords, task.reference) if held is None else (held.coords, held.reference)


def _write(kept: Reconstruction, task: Task, model, seed: int) -> None:
    coords, reference = _whole(task)
    write_artifact(kept.path, {
        "output": task.output(model, coords)[0].float().cpu().numpy(), "reference": reference.float().cpu().numpy(),
        "grid": task.grid, "sample_rate": task.meta.get("sample_rate", math.nan), "seed": seed,
        "stored": kept.stored, "rerun": kept.rerun, "cell_key": kept.cell_key, "signal": kept.signal,
        "model_spec": kept.model_spec, "metric": kept.metric})


def _read(path: Path) -> Reconstruction:
    kept = read_artifact(path)
    return Reconstruction(kept["cell_key"], kept["signal"], kept["model_spec"], kept["metric"], float(kept["stored"]),
                          float(kept["rerun"]), path)
