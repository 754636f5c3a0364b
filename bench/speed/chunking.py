"""How many members to train together on this device, measured once per problem shape and cached.

Batching members is not always faster: on a 2-core CPU, 8 members x 16,384 samples x 4 x 64 in one
ensemble ran at half the member-steps/s of 2 to 4 members (cache pressure), while with 2,048 samples
the larger ensembles win; on a GPU larger ensembles keep winning until memory runs out. So before a
sweep trains a new shape, short runs of 1, 2, 4, ... members measure member-steps/s, and the fastest
size (the largest within 5% of the fastest) is cached in ``$BENCH_MEMBERS_CACHE`` (default
``~/.cache/inr-bench/members-per-ensemble.json``; delete it to measure again). ``--max-members`` or a
spec's ``max_members`` fix the size instead.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import replace
from pathlib import Path

import pooch
import torch

from bench.models import ModelChoice
from bench.provenance import device_name
from bench.speed.measure import measure
from bench.store import write_atomically
from bench.tasks import Task
from bench.train import TrainConfig

TUNE_STEPS = 8  # per candidate size: 1 warm-up step, 7 timed ...
MIN_TIMED_S = 0.5  # ... and more (up to MAX_TUNE_STEPS) when those took less than this: short timings are noisy
MAX_TUNE_STEPS = 200
TUNE_BUDGET_S = 30.0  # stop trying larger sizes once the next one would take longer than this
TOLERANCE = 0.05  # sizes within 5% of the fastest count as equally fast; the largest of them is chosen


def cache_path() -> Path:
    return Path(os.environ.get("BENCH_MEMBERS_CACHE") or Path(pooch.os_cache("inr-bench")) / "members-per-ensemble.json")


def members_per_ensemble(task: Task, model: ModelChoice, width: int, layers: int, train: TrainConfig,
                         cap: int) -> int:
    """The ensemble size (1..cap) with the most member-steps/s for this shape on ``task``'s device:
    from the cache, else measured now and cached."""
    key = cache_key(task, model, width, layers, train, cap)
    path = cache_path()
    cache = _read(path)
    if key not in cache:
        rates = _measure_sizes(task, model, width, layers, train, cap)
        if not rates:  # even one member failed: the job itself will record why
            return cap
        cache = _read(path)  # another sweep may have written meanwhile
        cache[key] = {"members": choose(rates), "member_steps_per_s": {str(k): v for k, v in rates.items()}}
        write_atomically(path, json.dumps(cache, indent=1) + "\n")
    return min(cache[key]["members"], cap)


def cache_key(task: Task, model: ModelChoice, width: int, layers: int, train: TrainConfig, cap: int) -> str:
    """The cache entry of a problem shape on ``task``'s device."""
    samples = min(train.batch_size or task.size, task.size)
    return json.dumps({"device": device_name(task.coords.device), "torch": torch.__version__, "task": task.name,
                       "model": model.entry.name, "d_in": task.info.d_in, "d_out": task.info.d_out, "width": width,
                       "layers": layers, "samples": samples, "precision": train.precision, "cap": cap}, sort_keys=True)


def _read(path: Path) -> dict:
    """The cache's entries; an unreadable or corrupt file counts as empty (it is rewritten whole)."""
    try:
        cache = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        return {}
    return cache if isinstance(cache, dict) else {}


def choose(rates: dict[int, float]) -> int:
    """The largest size whose member-steps/s is within TOLERANCE of the best."""
    best = max(rates.values())
    return max(k for k, rate in rates.items() if rate >= (1 - TOLERANCE) * best)


def _measure_sizes(task: Task, model: ModelChoice, width: int, layers: int, train: TrainConfig,
                   cap: int) -> dict[int, float]:
    """member-steps/s of 1, 2, 4, ... members (and cap), until one fails (e.g. runs out of memory), falls
    well behind the best, or the next would exceed the time budget."""
    cfg = TrainConfig(steps=TUNE_STEPS, lr=train.lr, batch_size=train.batch_size, precision=train.precision)
    sizes = sorted({min(2**i, cap) for i in range(cap.bit_length() + 1)})
    rates: dict[int, float] = {}
    for size in sizes:
        started = time.perf_counter()
        try:
            steps_per_s = measure(task, model, width, layers, size, cfg).steps_per_s
            if TUNE_STEPS / steps_per_s < MIN_TIMED_S:
                steps = min(MAX_TUNE_STEPS, math.ceil(MIN_TIMED_S * steps_per_s * 1.1))
                steps_per_s = measure(task, model, width, layers, size, replace(cfg, steps=steps)).steps_per_s
            if not math.isfinite(steps_per_s):  # e.g. every member diverged before the timed steps
                break
            rates[size] = size * steps_per_s
        except Exception:  # out of memory, or a model that fails: sizes so far decide
            break
        finally:
            if task.coords.device.type == "cuda":
                torch.cuda.empty_cache()
        if rates[size] < 0.7 * max(rates.values()):
            break
        if 2 * (time.perf_counter() - started) > TUNE_BUDGET_S:
            break
    return rates
