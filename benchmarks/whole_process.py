"""The speed a user sees: the whole `bench run` process (start-up, measuring, compiling, training, writing)
against the plain reference loop run in a process of its own, on one shape, first with empty caches (the
ensemble sizes and compile measurements, and torch's compile artifacts) and then with the caches the first
run filled.

    python benchmarks/whole_process.py [--members 8] [--steps 300] [--samples 16384] [--width 64] [--layers 4]
                                       [--compile auto|on|off]

Prints one Markdown table row per run (seconds, ratio to the reference, the load average before it) for
benchmarks/RESULTS.md. Nothing is asserted: speed is measured, not tested.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

REFERENCE = """
import sys, time, numpy as np, soundfile as sf, torch
sys.path.insert(0, {root!r})
from benchmarks.reference import run_seeds
from bench.signals import SignalLibrary
data, _ = sf.read(str(SignalLibrary().path("relay", "audio")), dtype="float64", always_2d=True)
mono = data.mean(axis=1)
samples = mono[:{samples}] / np.abs(mono).max()
coords = torch.linspace(-1, 1, len(samples))[:, None]
target = torch.from_numpy(samples).float()[:, None]
run_seeds(coords, target, list(range({members})), {width}, {layers}, {steps}, w0_first=3000.0)
"""


def timed(argv: list[str], env: dict[str, str]) -> float:
    """Wall seconds of one process, from its start to its exit (which must be 0)."""
    started = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag, default in (("members", 8), ("steps", 300), ("samples", 16384), ("width", 64), ("layers", 4)):
        parser.add_argument(f"--{flag}", type=int, default=default)
    parser.add_argument("--compile", choices=["auto", "on", "off"], default="auto", help="bench run's --compile")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        env = os.environ | {"BENCH_MEMBERS_CACHE": str(Path(scratch) / "members.json"),
                            "TORCHINDUCTOR_CACHE_DIR": str(Path(scratch) / "torch-compile")}
        reference = timed([sys.executable, "-c", REFERENCE.format(root=str(ROOT), **vars(args))], env)
        run = [sys.executable, "-m", "bench", "run", "--model", "siren", "--task", "audio:relay", "--max-samples",
               str(args.samples), "--width", str(args.width), "--layers", str(args.layers), "--steps",
               str(args.steps), "--seeds", f"0-{args.members - 1}", "--device", "cpu", "--no-progress",
               "--compile", args.compile]
        print(f"| run | seconds | x reference | load average before |\n|---|---|---|---|\n"
              f"| reference loop, {args.members} seeds one after another | {reference:.1f} | 1.00 | |")
        for label in ("bench run, caches empty", "bench run, caches warm"):
            load = os.getloadavg()[0]
            seconds = timed([*run, "--out", str(Path(scratch) / label.split(",")[1].strip())], env)
            print(f"| {label} (--compile {args.compile}) | {seconds:.1f} | {reference / seconds:.2f} | {load:.2f} |")


if __name__ == "__main__":
    main()
