"""The speed a user sees: the whole `bench run` process (start-up, measuring, compiling, training, writing)
against the plain reference loop run in a process of its own, on one shape, first with empty caches (the
ensemble sizes measured, and torch's compile artifacts) and then with the caches the first
run filled.

    python benchmarks/whole_process.py [--members 8] [--steps 300] [--samples 16384] [--width 64] [--layers 4]
                                       [--compile off|on] [--rounds 1]

Prints one Markdown table row per run (seconds, ratio to the reference, the share of the CPUs other processes
used meanwhile, what `bench run` said about its measuring) for
benchmarks/RESULTS.md. Nothing is asserted: speed is measured, not tested.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.perf.cpu_share import CpuShare

ROOT = Path(__file__).resolve().parent.parent

REFERENCE = """
import sys, time, numpy as np, soundfile as sf, torch
sys.path.insert(0, {root!r})
from benchmarks.reference import run_seeds
from bench.signals.library import SignalLibrary
data, _ = sf.read(str(SignalLibrary().path("relay", "audio")), dtype="float64", always_2d=True)
mono = data.mean(axis=1)
samples = mono[:{samples}] / np.abs(mono).max()
coords = torch.linspace(-1, 1, len(samples))[:, None]
target = torch.from_numpy(samples).float()[:, None]
run_seeds(coords, target, list(range({members})), {width}, {layers}, {steps}, w0_first=3000.0)
"""


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds of one process, from its start to its exit (which must be 0), the share of all CPUs
    other processes used meanwhile (0: the machine was ours), and its stderr."""
    others, started = CpuShare(), time.perf_counter()
    done = subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT,
                          text=True)
    return time.perf_counter() - started, others.others(), done.stderr


def measuring_line(stderr: str) -> str:
    """bench run's "measuring took ..." line (empty when it measured nothing)."""
    return next((line.strip() for line in stderr.splitlines() if line.startswith("measuring took")), "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag, default in (("members", 8), ("steps", 300), ("samples", 16384), ("width", 64), ("layers", 4)):
        parser.add_argument(f"--{flag}", type=int, default=default)
    parser.add_argument("--compile", choices=["off", "on"], default="off", help="bench run's --compile")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of the three runs, each with its own empty "
                        "caches; more than one ends with the median ratios")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    run = [sys.executable, "-m", "bench", "run", "--model", "siren", "--task", "audio:relay", "--max-samples",
           str(args.samples), "--width", str(args.width), "--layers", str(args.layers), "--steps",
           str(args.steps), "--seeds", f"0-{args.members - 1}", "--device", "cpu", "--no-progress",
           "--compile", args.compile]
    print("| round | run | seconds | x reference | others' CPU | measuring |\n|---|---|---|---|---|---|")
    ratios: dict[str, list[float]] = {"caches empty": [], "caches warm": []}
    for round_ in range(1, args.rounds + 1):
        with tempfile.TemporaryDirectory() as scratch:
            env = os.environ | {"BENCH_MEMBERS_CACHE": str(Path(scratch) / "members.json"),
                                "TORCHINDUCTOR_CACHE_DIR": str(Path(scratch) / "torch-compile")}
            reference, others, _ = timed([sys.executable, "-c", REFERENCE.format(root=str(ROOT), **vars(args))], env)
            print(f"| {round_} | reference loop, {args.members} seeds one after another | {reference:.1f} | 1.00 "
                  f"| {others:.0%} | |", flush=True)
            for caches in ratios:
                seconds, others, stderr = timed([*run, "--out", str(Path(scratch) / caches.split()[1])], env)
                ratios[caches].append(reference / seconds)
                print(f"| {round_} | bench run, {caches} (--compile {args.compile}) | {seconds:.1f} "
                      f"| {reference / seconds:.2f} | {others:.0%} | {measuring_line(stderr)} |", flush=True)
    if args.rounds > 1:
        print("\nmedian x reference: " + ", ".join(f"{caches} {statistics.median(r):.2f} (range {min(r):.2f}-"
                                                    f"{max(r):.2f})" for caches, r in ratios.items()))


if __name__ == "__main__":
    main()
