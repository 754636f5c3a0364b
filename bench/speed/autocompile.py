"""``--compile auto`` (the default): compile an ensemble's training step only where the time it saves pays
for the compiling, decided from this device's measurements.

Two bounds measured in benchmarks/RESULTS.md (CHEAPEST_COMPILE_S, the shortest compile of one shape, and
BEST_SPEEDUP, the largest compiled / eager step-rate ratio) decide which runs are too short to be worth
measuring: a run must save MARGIN times its compile time, so one whose eager steps take less than
MARGIN x CHEAPEST_COMPILE_S / (1 - 1 / BEST_SPEEDUP) (22 s with today's constants) runs eagerly (its eager
step time comes from the ensemble-size measurement, or, with a fixed ensemble size, from one short eager
timing per shape, cached). A longer one is measured once per problem shape, ensemble size and device (cached
beside the ensemble sizes, see ``bench.speed.ensemble_size``): compile time and compiled step time, from one
compile that the run then reuses when it compiles (so the time counts as compiling, not measuring). It
compiles when steps x (eager - compiled step time) exceeds twice the warm compile time, the cost of a compile
once torch's compile caches (``bench.speed.caches``) hold the shape. The steps counted are
those of every ensemble of the job still to run (``ensembles``): they share one compiled step, since a
process compiles a shape once and its later ensembles of that shape reuse it (``_compiled_here``).
"""

from __future__ import annotations

import math
import sys

from bench.models import ModelChoice, load_builtin_models
from bench.speed.ensemble_size import (DEFAULT_CAPS, cache_key, cached_measurement, count_as_reused,
                                       measured_here, member_steps_per_s, positive_number, read_cache, tuning_run,
                                       valid_sizes)
from bench.training import Problem, train

COMPILE_MODES = ("auto", "on", "off")
BEST_SPEEDUP = 2.2  # the largest compiled / eager step-rate ratio measured (benchmarks/RESULTS.md)
CHEAPEST_COMPILE_S = 6.0  # the shortest compile of one shape measured (benchmarks/RESULTS.md)
# The time saved must be this many times the compile time: near break-even, timing noise would flip the
# decision from run to run, and a compiled run's numbers differ from an eager run's by float rounding.
MARGIN = 2.0
PROBE_STEPS = 12  # compiled steps of the compile measurement (the first one compiles)
# What a compile costs a fresh process once torch's caches hold the shape, where the probe's own compile was
# cold (it cannot tell): at most this, measured on the 2-core CPU with torch 2.13 (2.3-2.7 s for 4 x 64, 8 x 128
# and 3 x 64 networks; benchmarks/RESULTS.md section 4b). A probe that read the caches keeps its own reading
# if it is longer.
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
    measured_before = measured_here(key)
    probe = cached_measurement(key, lambda: _probe(problem, members), _valid_probe)
    probed_now = measured_here(key) and not measured_before  # this call compiled the shape: the run reuses it
    if pays(steps, step_s, probe):
        if probed_now:  # (torch >= 2.5 reuses it for the run's new ensemble; 2.4 recompiles, from the caches)
            count_as_reused("compiling", probe["compile_s"])
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
    """Compile and run PROBE_STEPS steps, keeping the compiled step for the run: {"compiled": it ran
    compiled, "compile_s": this compile (cold, or from torch's compile caches as a previous process left
    them), "warm_compile_s": what a compile costs from now on (torch's caches hold the shape), "step_s"}
    ("compiled": False when the probe failed, so that it is not compiled again for every job)."""
    probe = tuning_run(problem, PROBE_STEPS)
    print("compiling the training step of this shape to time it (once; cached for the next run)", file=sys.stderr)
    hits = _compile_cache_hits()
    try:
        outcome = train(probe.ensemble(members), probe.task, probe.train, progress=False, compile=True)
    except Exception:  # e.g. out of memory: the run itself will meet it; do not try to compile again
        outcome = None
    if outcome is None or not math.isfinite(outcome.steps_per_s):  # failed, or every member diverged
        return {"compiled": False, "compile_s": None, "warm_compile_s": None, "step_s": None}
    step_s = 1 / outcome.steps_per_s
    compile_s = max(0.0, outcome.seconds - PROBE_STEPS * step_s)
    read_caches = _compile_cache_hits() > hits
    return {"compiled": outcome.compiled, "compile_s": compile_s,
            "warm_compile_s": max(compile_s, WARM_COMPILE_FLOOR_S) if read_caches else WARM_COMPILE_FLOOR_S,
            "step_s": step_s}


def _compile_cache_hits() -> int:
    """How many compiled graphs this process has read from inductor's FX-graph cache (0 where this torch
    does not count them: the probe then takes its compile as cold)."""
    from torch._dynamo.utils import counters

    return int(counters["inductor"].get("fxgraph_cache_hit", 0))
