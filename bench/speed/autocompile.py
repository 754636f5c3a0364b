"""``--compile auto`` (the default): compile an ensemble's training step only where the time it saves pays
for the compiling, decided from this device's measurements.

Two bounds measured in benchmarks/RESULTS.md (CHEAPEST_COMPILE_S, the shortest compile of one shape, and
BEST_SPEEDUP, the largest compiled / eager step-rate ratio) decide which runs are too short to be worth
measuring: a run must save MARGIN times its compile time, so one whose eager steps take less than
MARGIN x CHEAPEST_COMPILE_S / (1 - 1 / BEST_SPEEDUP) (22 s with today's constants) runs eagerly (its eager
step time comes from the ensemble-size measurement, or, with a fixed ensemble size, from one short eager
timing per shape, cached). A longer one is measured once per problem shape, ensemble size and device (cached
beside the ensemble sizes, see ``bench.speed.ensemble_size``): compile time (the warm one: torch's compile
caches, ``bench.speed.caches``, hold the artifacts after a first compile) and compiled step time; it
compiles when steps x (eager - compiled step time) exceeds twice the compile time. The steps counted are
those of every ensemble of the job still to run (``ensembles``): they share one compiled step, since a
process compiles a shape once and its later ensembles of that shape reuse it (``_compiled_here``).
"""

from __future__ import annotations

import math
import sys

import torch

from bench.models import ModelChoice, load_builtin_models
from bench.speed.ensemble_size import (DEFAULT_CAPS, cache_key, cached_measurement, member_steps_per_s,
                                       positive_number, read_cache, tuning_run, valid_sizes)
from bench.training import Problem, train

COMPILE_MODES = ("auto", "on", "off")
BEST_SPEEDUP = 2.2  # the largest compiled / eager step-rate ratio measured (benchmarks/RESULTS.md)
CHEAPEST_COMPILE_S = 6.0  # the shortest compile of one shape measured (benchmarks/RESULTS.md)
# The time saved must be this many times the compile time: near break-even, timing noise would flip the
# decision from run to run, and a compiled run's numbers differ from an eager run's by float rounding.
MARGIN = 2.0
PROBE_STEPS = 12  # compiled steps of the compile measurement (the first one compiles)
# The least a compile costs a run once torch's caches hold the shape: a fresh process reading a filled cache
# took 3.5 s for a 16 x 2 siren on 2,048 samples on the 2-core CPU, where a second compile in the probe's own
# process (after torch._dynamo.reset) took about 1 s; the probe records the larger of its reading and this.
WARM_COMPILE_FLOOR_S = 3.5
_compiled_here: set[str] = set()  # the probe keys of shapes this process has compiled (their compile is paid)


def should_compile(compile_mode: str, problem: Problem, members: int, ensembles: int = 1) -> bool:
    """Whether to compile a run of ``members`` members on ``problem`` (``compile_mode``: auto, on, off), the
    first of ``ensembles`` ensembles of its job still to run on this shape (the others reuse its compile)."""
    if compile_mode != "auto":
        return compile_mode == "on"
    key = cache_key(problem, members, compile=True, what="compile probe")
    if key in _compiled_here:  # compiled here for an earlier ensemble, where it paid: its compile is paid
        return True
    steps = problem.train.steps * ensembles
    step_s = eager_step_s(problem, members)
    if step_s is None or steps * step_s * (1 - 1 / BEST_SPEEDUP) <= MARGIN * CHEAPEST_COMPILE_S:
        return False
    probe = cached_measurement(key, lambda: _probe(problem, members), _valid_probe)
    if pays(steps, step_s, probe):
        _compiled_here.add(key)
        return True
    return False


def pays(steps: int, eager_step_s: float, probe: dict | None) -> bool:
    """``steps`` save MARGIN times what their compile costs (``probe``: {"compiled", "compile_s",
    "warm_compile_s", "step_s"}): the warm compile, since the probe has filled torch's compile caches
    (``bench.speed.caches``) and every later compile of this shape reads them."""
    if not probe or not probe["compiled"]:  # compiling failed (e.g. double backward): the step ran eagerly
        return False
    return steps * (eager_step_s - probe["step_s"]) > MARGIN * probe["warm_compile_s"]


def eager_step_s(problem: Problem, members: int) -> float | None:
    """Seconds per eager step of ``members`` members: from a cached ensemble-size measurement of this shape
    (any model with the same network runs at the same speed; the rate of the smallest timed size >= members),
    else timed now and cached."""
    cache = read_cache()
    for other in load_builtin_models():
        if other.meta["plan"] != problem.model.entry.meta["plan"]:
            continue
        same_network = problem.with_model(ModelChoice(other, {}))
        for cap in DEFAULT_CAPS:
            sizes = cache.get(cache_key(same_network, cap))
            if not (isinstance(sizes, dict) and valid_sizes(sizes)):
                continue
            rates = sizes["member_steps_per_s"]
            timed = sorted(int(size) for size in rates if int(size) >= members)
            if timed:
                return members / rates[str(timed[0])]
    entry = cached_measurement(cache_key(problem, members, what="eager step"), lambda: _eager(problem, members),
                               lambda entry: positive_number(entry.get("step_s")))
    return entry["step_s"] if entry else None


def _valid_probe(entry: dict) -> bool:
    """A compile-probe entry: {"compiled": bool, "compile_s", "warm_compile_s", "step_s"}, the times set when
    it compiled."""
    compiled = entry.get("compiled")
    if compiled is False:
        return True
    seconds = [entry.get("compile_s"), entry.get("warm_compile_s")]  # an entry without the warm time is measured again
    return (compiled is True and positive_number(entry.get("step_s"))
            and all(isinstance(t, (int, float)) and not isinstance(t, bool) and t >= 0 for t in seconds))


def _eager(problem: Problem, members: int) -> dict | None:
    rate = member_steps_per_s(problem, members, compile=False)
    return {"step_s": members / rate} if rate else None


def _probe(problem: Problem, members: int) -> dict | None:
    """Compile and run PROBE_STEPS steps, twice: {"compiled": it ran compiled, "compile_s": the first
    compile (torch's compile caches empty for this shape, or as a previous process left them),
    "warm_compile_s": the second, the cost a run pays from then on, "step_s"} ("compiled": False when the
    probe failed, so that it is not compiled again for every job)."""
    probe = tuning_run(problem, PROBE_STEPS)
    print("compiling the training step of this shape to time it (once; cached for the next run)", file=sys.stderr)
    outcomes = []
    for attempt in range(2):
        if attempt:  # forget the compiled code in memory: the second compile reads what the first stored on disk
            torch._dynamo.reset()
            _compiled_here.clear()  # every shape compiled before is gone too: the next run of one compiles again
        try:
            outcome = train(probe.ensemble(members), probe.task, probe.train, progress=False, compile=True)
        except Exception:  # e.g. out of memory: the run itself will meet it; do not try to compile again
            return {"compiled": False, "compile_s": None, "warm_compile_s": None, "step_s": None}
        if not math.isfinite(outcome.steps_per_s):  # every member diverged: nothing was timed
            return {"compiled": False, "compile_s": None, "warm_compile_s": None, "step_s": None}
        outcomes.append(outcome)
    step_s = 1 / max(outcome.steps_per_s for outcome in outcomes)
    cold, warm = (max(0.0, outcome.seconds - PROBE_STEPS * step_s) for outcome in outcomes)
    warm = max(warm, WARM_COMPILE_FLOOR_S)  # a new process also loads inductor and its artifacts
    return {"compiled": all(outcome.compiled for outcome in outcomes), "compile_s": cold, "warm_compile_s": warm,
            "step_s": step_s}
