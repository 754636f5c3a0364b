"""`bench bench`: training throughput of one model for several ensemble sizes and precisions."""

from __future__ import annotations

import argparse
import sys

from bench.cli.options import add_data_dir, add_device, add_format, add_task_options, common, positive, task_options
from bench.core.errors import UsageError


def add_bench(sub) -> None:
    sub.add_parser("bench", parents=[common()], help="training throughput of ensembles of 1, 4, 16 members",
                   description="Time short trainings of one model on a problem (--config, or --task with "
                               "--width/--layers) for each ensemble size and precision: steps/s, member-steps/s, "
                               "samples/s, achieved GFLOP/s (matmul FLOPs counted from the layer shapes), peak memory "
                               "(CUDA: tensors; CPU: the process's resident peak) and the final metric. benchmarks/ "
                               "compares this with a plain loop.", build=_bench_arguments)


def _bench_arguments(speed: argparse.ArgumentParser) -> None:
    from bench.perf.measure import SPEED_CONFIGS
    from bench.training import TrainConfig

    speed.add_argument("--config", choices=sorted(SPEED_CONFIGS),
                       help="audio: arch, 150,000 samples, 4 x 222; image: camera 256^2, 3 x 256; *-cpu: 16,384 "
                            "(4k: 4,096) samples, 4 x 64 and 64^2, 3 x 64 (default: audio on CUDA, audio-cpu "
                            "on the CPU)")
    speed.add_argument("--task", metavar="TASK:SIGNAL", help="instead of --config's task")
    speed.add_argument("--width", type=positive(int), help="instead of --config's width")
    speed.add_argument("--layers", type=positive(int), help="instead of --config's layers")
    speed.add_argument("--model", default="siren", metavar="NAME[:k=v,...]", help="init scheme (default siren)")
    speed.add_argument("--members", default="1,4,16", help="ensemble sizes, comma-separated (default 1,4,16)")
    speed.add_argument("--steps", type=positive(int), default=50,
                       help="steps per measurement; the first tenth (at most 10) warm up untimed (default 50)")
    speed.add_argument("--lr", type=positive(float), default=TrainConfig.lr, help=f"(default {TrainConfig.lr})")
    speed.add_argument("--precision", default="fp32", help="comma-separated: fp32, tf32, bf16 (default fp32)")
    speed.add_argument("--compile", action="store_true", help="also time the step compiled with torch.compile")
    speed.add_argument("--roofline", action="store_true",
                       help="measure the device's matmul rate and bandwidth and add each step's floor (floor_ms)")
    add_device(speed)
    add_data_dir(speed)
    add_format(speed)
    add_task_options(speed)
    speed.set_defaults(func=cmd_bench)


def add_cache(sub) -> None:
    sub.add_parser("cache", parents=[common()], help="where measurements, compiled steps and learned inits are cached; --clear",
                   description="Show the caches later runs reuse: the measured ensemble sizes and compile timings "
                               "($BENCH_MEMBERS_CACHE), torch.compile's artifacts ($TORCHINDUCTOR_CACHE_DIR) and the "
                               "learned inits of meta_learned and strainer ($BENCH_LEARNED_CACHE), by default under "
                               "the project's cache folder. --clear removes what bench wrote there (the next run "
                               "measures, compiles and learns anew) and leaves any other file, saying so; a "
                               "$TORCHINDUCTOR_CACHE_DIR of your own is left whole.", build=_cache_arguments)


def _cache_arguments(cache: argparse.ArgumentParser) -> None:
    cache.add_argument("--clear", action="store_true", help="remove what bench wrote into the three caches")
    cache.set_defaults(func=cmd_cache)


def cmd_cache(args: argparse.Namespace) -> int:
    for cache in _caches():
        print(f"{cache.what}: {cache.path} (empty)" if cache.empty() else
              f"{cache.what}: {cache.path} ({cache.size() / 2**20:.1f} MiB)")
        left = cache.clear() if args.clear else []
        if left:
            print(f"{cache.what}: left {len(left)} entries in {cache.path} as they are ({cache.others}); remove "
                  f"them yourself if they are not needed", file=sys.stderr)
    if args.clear:
        print("cleared: the next run measures, compiles and learns anew", file=sys.stderr)
    return 0


def _caches() -> list:
    """The three caches, each with the paths in it that bench wrote."""
    from bench.learned.cache import learned_cache_dir, learned_files
    from bench.core.caches import COMPILE_CACHE_ENV, Cache, compile_cache_dir, project_compile_dir
    from bench.perf.sizing import MEMBERS_CACHE_ENV, cache_path, is_measurements_file

    measurements, compiled, learned = cache_path(), compile_cache_dir(), learned_cache_dir()
    return [Cache("measurements", measurements, [measurements] if is_measurements_file(measurements) else [],
                  f"${MEMBERS_CACHE_ENV} names something other than bench's measurements file"),
            Cache("compiled steps", compiled, [compiled] if compiled == project_compile_dir() else [],
                  f"${COMPILE_CACHE_ENV} names a folder bench does not own: other programs may compile into it"),
            Cache("learned inits", learned, learned_files(learned), "not learned inits that bench wrote")]


def cmd_bench(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    import pandas as pd

    from bench import learned  # noqa: F401  (a learned scheme is timed as the network it builds)
    from bench.core.provenance import provenance, resolve_device
    from bench.experiment.spec import parse_seeds
    from bench.models import parse_model
    from bench.perf.measure import SPEED_CONFIGS, measure
    from bench.perf.roofline import measure_rates
    from bench.signals.library import SignalLibrary
    from bench.tasks import load_task, parse_task
    from bench.training import Problem, TrainConfig

    device = resolve_device(args.device)
    config = SPEED_CONFIGS[args.config or ("audio" if device.type == "cuda" else "audio-cpu")]
    name = args.task or config.task
    options = (config.options if args.task is None else {}) | parse_task(name)[0].parse_options(task_options(args))
    task = load_task(name, SignalLibrary(args.data_dir), options).to(device)
    model = parse_model(args.model)
    width, layers = args.width or config.width, args.layers or config.layers
    members = parse_seeds(args.members)  # the same syntax: 1,4,16 or 1-4
    if min(members) < 1:
        raise UsageError(f"--members {args.members}: ensemble sizes must be >= 1, e.g. 1,4,16")
    print(f"{task.name}:{task.signal} ({task.size:,} points), {model.label}, {layers} x {width}, {args.steps} steps "
          f"on {provenance(device)['device_name']}", file=sys.stderr, flush=True)
    rates = measure_rates(device) if args.roofline else None
    if rates:
        print(f"measured: matmul {rates.matmul_flop_per_s / 1e9:.1f} GFLOP/s, copy {rates.bytes_per_s / 1e9:.1f} GB/s",
              file=sys.stderr, flush=True)
    problems = [Problem(task, model, width, layers, TrainConfig(steps=args.steps, lr=args.lr, precision=p.strip()))
                for p in args.precision.split(",")]
    rows = []
    for problem in problems:
        for compile in (False, True) if args.compile else (False,):
            for k in members:
                result = measure(problem, k, compile=compile, rates=rates)
                rows.append({"precision": problem.train.precision} | asdict(result))
    table = pd.DataFrame(rows).rename(columns={"metric": task.metric})
    print(table.to_markdown(index=False, floatfmt=".4g") if args.format == "markdown" else table.to_csv(index=False))
    return 0
