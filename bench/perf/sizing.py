"""How many members to train together on a CPU, measured once per problem shape and cached.

Only the speed depends on it: a member's eager numbers on a CPU are the same in an ensemble of any size
(tests/training/test_determinism.py). On CUDA and for compiled steps, where the batch count changes them, sizes are
not measured: every ensemble trains the sweep's largest size, padded (``bench.experiment.execute.JobRunner``).

Batching members is not always faster: on a CPU a large ensemble of long signals can run at a fraction of
the member-steps/s of a few members (cache pressure), while short signals favour large ensembles
(measurements: benchmarks/RESULTS.md). So before a
sweep trains a new shape, short runs of 1, 2, 4, ... members measure member-steps/s, and the fastest
size (the largest within 5% of the fastest) is cached in ``$BENCH_MEMBERS_CACHE`` (default
``~/.cache/inr-bench/members-per-ensemble.json``; delete it to measure again). ``--max-members`` or a
spec's ``max_members`` fix the size instead.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch

from bench.models import ModelChoice, load_builtin_models
from bench.core.provenance import device_name
from bench.core.caches import cache_root
from bench.perf.cpu_share import CpuShare
from bench.perf.measure import measure
from bench.core.files import write_atomically
from bench.training import Problem

MEMBERS_CACHE_ENV = "BENCH_MEMBERS_CACHE"  # the measurements file, when not the default
TIMED_STEPS = 8  # per candidate size: 1 warm-up step, 7 timed ...
MIN_TIMED_S = 0.5  # ... and more (up to MAX_TIMED_STEPS) when those took less than this: short timings are noisy
MAX_TIMED_STEPS = 200
WARMUP_STEPS = 3  # untimed steps of one member before any size is timed (first-use costs: allocator, threads)
SIZING_BUDGET_S = 30.0  # measuring one shape takes at most this long ...
MEASURE_SHARE = 0.06  # ... and aims at this share of the work it sizes (predicted at the best rate timed so far)
TOLERANCE = 0.05  # sizes within 5% of the fastest count as equally fast; the largest of them is chosen
SLOWER = 0.7  # a size under this share of the best rate so far ends the timing (a small dip does not: a GPU's
# rate can dip at 2 members and climb to many times the first size's after)
BUSY = 0.25  # other processes used more than this share of the CPUs while timing: measure again next time

def cache_path() -> Path:
    return Path(os.environ.get(MEMBERS_CACHE_ENV) or cache_root() / "members-per-ensemble.json")


def _count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def positive_number(value) -> bool:
    """Whether a cache value is a positive finite number (a time or a rate)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def valid_sizes(entry: dict) -> bool:
    """An ensemble-size entry: {"members": n >= 1, "member_steps_per_s": {"size": rate > 0}}."""
    rates = entry.get("member_steps_per_s")
    return (_count(entry.get("members")) and isinstance(rates, dict) and bool(rates)
            and all(size.isdigit() and int(size) >= 1 and positive_number(rate) for size, rate in rates.items()))


class Sizer:
    """Chooses the ensemble sizes of one run on a CPU: read from the cache, else measured and cached. It keeps
    what it measured (a reading taken while the CPU was busy is used by this run but not measured twice by
    it), whether it has warmed up, and the seconds it spent: ``measuring_s``, less the parts the run reused,
    kept by what they did in ``reused_s`` ({"warming up": seconds}: first-use costs the run's first ensemble
    would otherwise pay). A run makes one and hands it to its executor; a remote worker gets its own copy."""

    def __init__(self):
        self.measured: set[str] = set()
        self.warmed_up = False
        self.measuring_s = 0.0
        self.reused_s: dict[str, float] = {}

    def reused(self, what: str, seconds: float) -> None:
        """``seconds`` of measuring that did what the run then reused (``what``: "warming up")."""
        self.measuring_s -= seconds
        self.reused_s[what] = self.reused_s.get(what, 0.0) + seconds

    def members(self, problem: Problem, cap: int, member_steps: int | None = None) -> int:
        """The ensemble size (1..cap) with the most member-steps/s for ``problem``'s shape on its task's device
        (eager): from the cache, else measured now and cached. Measuring aims at
        MEASURE_SHARE of the work it sizes (``member_steps``: of this shape in the run, default ``cap`` members
        for ``problem``'s steps), so a short job times fewer sizes; a later, longer job measures again when it
        can afford more. A choice measured while other processes kept the CPU busy is used by this sizer but
        measured again by the next."""
        member_steps = member_steps or cap * problem.train.steps

        def sizes() -> dict | None:  # the cache entry: {"members", "member_steps_per_s": {size: rate}, "complete"}
            print(f"measuring how many members of this shape train fastest together on {problem.task.coords.device} "
                  f"(sizes up to {cap}, under a tenth of the job; cached for the next run)", file=sys.stderr)
            rates, complete = self._measure_sizes(problem, cap, member_steps)
            return ({"members": fastest_size(rates), "member_steps_per_s": {str(k): v for k, v in rates.items()},
                     "complete": complete, "job_member_steps": member_steps} if rates else None)

        def enough(entry: dict) -> bool:  # complete, or measured for a job at least as long as this one
            return valid_sizes(entry) and (entry.get("complete", True) is True
                                           or entry.get("job_member_steps", 0) >= member_steps)

        entry = self.cached(cache_key(problem, cap), sizes, enough)
        return min(entry["members"], cap) if entry else cap

    def cached(self, key: str, measure_now: Callable[[], dict | None],
               valid: Callable[[dict], bool] = lambda entry: True) -> dict | None:
        """The cache's entry ``key``, else ``measure_now()`` (None: it could not measure) stored with "busy", the
        share of the CPUs other processes used meanwhile. A busy entry is measured again by the next sizer,
        and so is one that is not a dict or fails ``valid`` (a cache edited by hand or written by a bug)."""
        path = cache_path()
        entry = _read(path).get(key)
        usable = isinstance(entry, dict) and isinstance(entry.get("busy", 0.0), (int, float)) and valid(entry)
        if usable and (entry.get("busy", 0.0) <= BUSY or key in self.measured):
            return entry
        cpu, started = CpuShare(), time.perf_counter()
        try:
            entry = measure_now()
        finally:
            self.measuring_s += time.perf_counter() - started
        if entry is None:  # even one member failed: the job itself will record why
            return None
        entry["busy"] = round(cpu.others(), 3)
        cache = _read(path)  # another sweep may have written meanwhile
        cache[key] = entry
        write_atomically(path, json.dumps(cache, indent=1) + "\n")
        self.measured.add(key)
        return entry

    def _measure_sizes(self, problem: Problem, cap: int, job_member_steps: int) -> tuple[dict[int, float], bool]:
        """member-steps/s of 1, 2, 4, ... members (and cap), and whether every size up to the end was timed.
        After an untimed warm-up, sizes are timed upwards until one fails (e.g. runs out of memory) or falls
        well behind the best so far; then the kept sizes are timed again downwards and each keeps the faster
        of its two readings, so neither a cold start nor a moment of load favours one size. The timing aims at
        MEASURE_SHARE of the work's predicted time (``job_member_steps`` at the best rate so far): sizes that
        would exceed it are left untimed. The sizer's first warm-up counts as the run's
        (``reused``): it pays the process's first-use costs, which the first ensemble would pay otherwise."""
        begun = time.perf_counter()
        try:
            measure(timing_run(problem, WARMUP_STEPS), 1)  # first-use costs
        except Exception:  # not even one member trains: the job itself records why
            return {}, True
        finally:
            if not self.warmed_up:  # the sizer's first: its costs are the first ensemble's otherwise
                self.reused("warming up", time.perf_counter() - begun)
                self.warmed_up = True
        started = time.perf_counter()
        sizes = sorted({min(2**i, cap) for i in range(cap.bit_length() + 1)})
        rates: dict[int, float] = {}
        took: dict[int, float] = {}
        budget = SIZING_BUDGET_S
        complete = True
        for size in sizes:
            begun = time.perf_counter()
            # expected: the best member-steps/s so far (it sizes the timing without a first, too short one)
            rate = member_steps_per_s(problem, size, expected=max(rates.values()) if rates else None)
            if rate is None:
                break
            rates[size], took[size] = rate, time.perf_counter() - begun
            # the work's time predicted at the best rate so far (the rate it will at least train at)
            budget = min(SIZING_BUDGET_S, MEASURE_SHARE * job_member_steps / max(rates.values()))
            if rate < SLOWER * max(rates.values()):  # well behind the best: larger ensembles only get slower from here
                break
            following = sizes[sizes.index(size) + 1:]
            if following and time.perf_counter() - started + _predicted_s(took[size], following[0], rate) > budget:
                complete = False  # the next size would not fit
                break
        for size in sorted(rates, reverse=True):  # a second reading each where the budget allows: none is favoured
            if time.perf_counter() - started + took[size] > budget:
                continue
            rates[size] = max(rates[size], member_steps_per_s(problem, size, expected=rates[size]) or 0.0)
        return rates, complete


def cache_key(problem: Problem, cap: int) -> str:
    """The cache entry of the ensemble sizes up to ``cap`` for ``problem``'s shape on its task's device."""
    task, train = problem.task, problem.train
    samples = min(train.batch_size or task.size, task.size)
    fields = {"device": device_name(task.coords.device), "torch": torch.__version__, "task": task.name,
              "model": problem.model.entry.name, "d_in": task.info.d_in, "d_out": task.info.d_out,
              "width": problem.width, "layers": problem.layers, "samples": samples, "precision": train.precision,
              "cap": cap}
    if "loss" in task.meta:  # a task whose loss is an option (e.g. sdf): another loss is another step to time
        fields["loss"] = task.meta["loss"]
    return json.dumps(fields, sort_keys=True)


def is_measurements_file(path: Path) -> bool:
    """Whether ``path`` is a file of this cache's form (a JSON object of entries, each an object), so that
    ``bench cache --clear`` removes only a file bench wrote, never one ``$BENCH_MEMBERS_CACHE`` names by mistake."""
    try:
        entries = json.loads(path.read_text()) if path.is_file() and not path.is_symlink() else None
    except (OSError, ValueError):
        return False
    return isinstance(entries, dict) and all(isinstance(entry, dict) for entry in entries.values())


def _read(path: Path) -> dict:
    """The cache's entries; an unreadable or corrupt file counts as empty (it is rewritten whole)."""
    try:
        cache = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        return {}
    return cache if isinstance(cache, dict) else {}


def fastest_size(rates: dict[int, float]) -> int:
    """The largest size whose member-steps/s is within TOLERANCE of the best."""
    best = max(rates.values())
    return max(k for k, rate in rates.items() if rate >= (1 - TOLERANCE) * best)


def _predicted_s(took: float, size: int, rate: float) -> float:
    """Seconds that timing ``size`` members should take, after a size that took ``took`` seconds at ``rate``
    member-steps/s: as long (each timing lasts about MIN_TIMED_S), or longer where TIMED_STEPS steps of
    ``size`` members outlast that; a quarter more, since a larger ensemble may run slower per member."""
    return 1.25 * took * max(1.0, TIMED_STEPS * size / rate / (MIN_TIMED_S * 1.1))


def timing_run(problem: Problem, steps: int = TIMED_STEPS) -> Problem:
    """The short run that times ``problem``: its training settings but the schedule, ``steps`` steps; a
    learned init is timed as siren when it builds siren's network (the speed is the network's, and timing it
    would learn an init for every seed of every size tried)."""
    timed = problem.with_train(replace(problem.train, steps=steps, lr_step=None, lr_gamma=1.0))
    siren = load_builtin_models().get("siren")
    if problem.model.entry.meta.get("learned") and problem.model.entry.meta["plan"] == siren.meta["plan"]:
        return timed.with_model(ModelChoice(siren, {}))
    return timed


def member_steps_per_s(problem: Problem, size: int, expected: float | None = None) -> float | None:
    """member-steps/s of ``size`` members on ``problem``'s ``timing_run``, timed for at least MIN_TIMED_S;
    None when it fails or diverges. ``expected``: the member-steps/s it should run at, which sets the number
    of steps at once; without it TIMED_STEPS steps are timed first (and more after them when too short)."""
    try:
        steps = TIMED_STEPS if expected is None else _steps_lasting(MIN_TIMED_S, expected / size)
        steps_per_s = measure(timing_run(problem, steps), size).steps_per_s
        if math.isfinite(steps_per_s) and steps / steps_per_s < MIN_TIMED_S:
            steps = _steps_lasting(MIN_TIMED_S, steps_per_s)
            steps_per_s = measure(timing_run(problem, steps), size).steps_per_s
    except Exception:  # out of memory, or a model that fails: sizes so far decide
        return None
    finally:
        if problem.task.coords.device.type == "cuda":
            torch.cuda.empty_cache()
    return size * steps_per_s if math.isfinite(steps_per_s) else None  # NaN: every member diverged


def _steps_lasting(seconds: float, steps_per_s: float) -> int:
    """Steps that take a bit more than ``seconds`` at ``steps_per_s`` (TIMED_STEPS to MAX_TIMED_STEPS)."""
    return min(MAX_TIMED_STEPS, max(TIMED_STEPS, math.ceil(seconds * steps_per_s * 1.1)))
