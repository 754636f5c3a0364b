"""Running a plan: each job is one batched ensemble; its rows are appended to the store as soon as it
ends, so a crash loses at most the job in flight. A failing job is split in halves and retried down
to single members, whose failures become rows with status "oom" or "error"; the sweep goes on."""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from bench.errors import is_out_of_memory
from bench.models import build_ensemble
from bench.ntk import NtkOptions, ntk_summaries
from bench.provenance import provenance
from bench.speed.measure import flop_per_step
from bench.store import write_rows
from bench.sweep.plan import Cell, Job
from bench.tasks import Task
from bench.train import train


def train_cells(task: Task, cells: Sequence[Cell], device: torch.device, progress: bool,
                ntk: NtkOptions | None = None, compile: bool = False) -> list[dict[str, Any]]:
    """Train ``cells`` as one ensemble on ``task`` (already on ``device``); one row per cell, with NTK
    summaries at the stages ``ntk`` asks for."""
    first = cells[0]
    sizes = [task.info.d_in] + [first.width] * first.layers + [task.info.d_out]
    model, used = build_ensemble([cell.member for cell in cells], sizes, task.info)
    model.to(device)
    stages = ntk.stages if ntk else ()
    spectral = [{} for _ in cells]
    if "init" in stages:
        spectral = [a | b for a, b in zip(spectral, ntk_summaries(model, task, ntk.points, "ntk_init"))]
    outcome = train(model, task, first.train, progress, compile)
    if "final" in stages:
        spectral = [a | b for a, b in zip(spectral, ntk_summaries(model, task, ntk.points, "ntk_final"))]
    samples = min(first.train.batch_size or task.size, task.size)
    shared = {"ensemble_size": len(cells), "n_params": model.member_parameters(), "compiled": outcome.compiled,
              "steps_per_s": outcome.steps_per_s, "samples_per_s": outcome.steps_per_s * samples,
              "gflop_per_s": outcome.steps_per_s * flop_per_step(model, samples) / 1e9, "seconds": outcome.seconds}
    return [_columns(task, cell, params, device) | shared | ntk_columns | {
        "status": member.status, task.metric: member.final, f"best_{task.metric}": member.best,
        "best_step": member.best_step, "diverged_step": member.diverged_step, "error": None,
        "curve_steps": member.curve_steps, f"curve_{task.metric}": member.curve,
    } | member.extra for cell, params, member, ntk_columns in zip(cells, used, outcome.members, spectral)]


def run_job(task: Task, cells: Sequence[Cell], device: torch.device, progress: bool = True,
            debug: bool = False, ntk: NtkOptions | None = None, compile: bool = False) -> list[dict[str, Any]]:
    """``train_cells`` with failures as data. A failing ensemble is split in halves and each half retried,
    so out-of-memory finds a size that fits and one bad member (say, an init scheme that raises) cannot
    fail the others; a single member that still fails is recorded with status "oom" or "error" and the
    exception's message. With ``debug`` other exceptions propagate instead."""
    try:
        return train_cells(task, cells, device, progress, ntk, compile)
    except Exception as exc:
        oom = is_out_of_memory(exc)
        if debug and not oom:
            raise
        message = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".strip()
    gc.collect()  # outside the except block, so the traceback's tensors can be freed
    if device.type == "cuda":
        torch.cuda.empty_cache()
    if len(cells) > 1:
        half = (len(cells) + 1) // 2
        return (run_job(task, cells[:half], device, progress, debug, ntk, compile)
                + run_job(task, cells[half:], device, progress, debug, ntk, compile))
    status = "oom" if oom else "error"
    return [_columns(task, cell, cell.model.params, device) | {"status": status, "error": message} for cell in cells]


def _columns(task: Task, cell: Cell, params: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return ({"cell_key": cell.key, "task": cell.task, "signal": cell.signal} | task.meta
            | {"width": cell.width, "layers": cell.layers} | asdict(cell.train) | provenance(device)
            | {"model": cell.model.entry.name, "model_spec": cell.model.label, "seed": cell.seed}
            | {f"param.{key}": value for key, value in params.items()})


def execute(jobs: Sequence[Job], tasks: Callable[[Cell], Task], out_dir: Path, device: torch.device,
            columns: dict[str, Any] | None = None, progress: bool = True, debug: bool = False,
            ntk: NtkOptions | None = None, compile: bool = False) -> list[dict[str, Any]]:
    """Run ``jobs`` one after another, writing each job's rows (plus ``columns``) as its own Parquet file.

    ``tasks`` maps a cell to its loaded task on ``device``. Returns all rows written.
    """
    written: list[dict[str, Any]] = []
    overall = tqdm(total=sum(len(job) for job in jobs), unit="cell", desc="cells", position=0,
                   disable=True if not progress else None)
    for job in jobs:
        rows = run_job(tasks(job.cells[0]), job.cells, device, progress, debug, ntk, compile)
        rows = [row | (columns or {}) for row in rows]
        write_rows(out_dir, rows)
        written += rows
        overall.update(len(job))
    overall.close()
    return written
