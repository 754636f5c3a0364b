"""Where a training step's time goes: torch.profiler over steps of one ensemble (issue #29 part 3), the time
per operator summed over the profiled steps, self time (what the operator itself ran, not its callees).

    python benchmarks/profile_step.py [--members 8] [--samples 16384] [--width 64] [--layers 4] [--steps 20]
                                      [--compile] [--device cpu]

Prints a Markdown table (operator, calls per step, ms per step, share of the step) for benchmarks/RESULTS.md.
Nothing is asserted: it is a measurement. The problem is the whole-process bar's (relay's first samples,
SIREN, full batch, Adam), built and trained by the package's own code.
"""

from __future__ import annotations

import argparse

import torch
from torch.profiler import ProfilerActivity, profile

from bench.models import parse_model
from bench.signals.library import SignalLibrary
from bench.tasks import load_task
from bench.training import Problem, TrainConfig, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag, default in (("members", 8), ("samples", 16384), ("width", 64), ("layers", 4), ("steps", 20)):
        parser.add_argument(f"--{flag}", type=int, default=default)
    parser.add_argument("--compile", action="store_true", help="profile the compiled step (compiled before profiling)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    task = load_task("audio:relay", SignalLibrary(), {"max_samples": args.samples}).to(device)
    problem = Problem(task, parse_model("siren"), args.width, args.layers, TrainConfig(steps=args.steps))
    model = problem.ensemble(args.members)
    train(model, task, TrainConfig(steps=3), progress=False, compile=args.compile)  # warm-up (and compile)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        train(model, task, problem.train, progress=False, compile=args.compile)
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total_us = sum(e.self_cpu_time_total for e in events)
    print(f"{args.members} members x {args.samples:,} samples, {args.layers} x {args.width}, "
          f"{'compiled' if args.compile else 'eager'}, {args.steps} steps on {device} "
          f"({torch.get_num_threads()} threads): {total_us / 1e3 / args.steps:.1f} ms of operator self time a step\n")
    print("| operator | calls a step | ms a step | share |\n|---|--:|--:|--:|")
    for event in events[:15]:
        print(f"| `{event.key}` | {event.count / args.steps:.1f} | {event.self_cpu_time_total / 1e3 / args.steps:.2f} "
              f"| {event.self_cpu_time_total / total_us:.1%} |")


if __name__ == "__main__":
    main()
