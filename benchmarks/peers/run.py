"""Every peer on one shape, each timed as a whole process, printed as one Markdown table.

    python -m benchmarks.peers [--shape bar|paper] [--members K] [--steps S] [--samples N] [--width H]
                               [--layers L] [--threads T] [--peers a,b,...] [--check] [--check-steps S]

Rows (``ROWS``): the peers of ``worker.PEERS`` and ``bench run`` three ways (caches empty, as a first run;
its ensemble-size cache then warm; ``--compile on``). Each process is pinned to T CPUs and told to use T
threads (torch.set_num_threads, OMP/MKL, ``bench run --threads``; XLA's Eigen pool off at T = 1), and starts
with empty compile caches of its own (a scratch folder per invocation).

Columns: wall seconds from the process's start to its exit; steady member-steps/s (after the warm-up steps,
``timing.warmup_steps``; ``bench run``'s from its rows, ``bench_run.steady``); both as "x bench", the
first ``bench run``'s seconds over the row's and the row's rate over that run's (above 1: faster than bench);
the seconds the warm-up steps took beyond their time at the steady rate (compiling, first-use
costs; ``bench run``: its training loops' time beyond their steady steps, and what it said it spent measuring
ensemble sizes and warming up or compiling meanwhile); the
share of the CPUs other processes used meanwhile (``bench.perf.cpu_share``); the curve check.

The curve check compares each peer's losses, step by step, with the reference loop's from the same weights:
- float32, every timed run (``bench run`` excepted: its members start from bench's own init): the first
  ``F32_STEPS`` steps within ``F32_RTOL`` relative. Not further: at w0_first 3000 float32 training is
  chaotic, a last-bit difference in a sum (vmap, a fused kernel, omega folded into the weights) grows over
  hundreds of steps into a different curve, so only the start can be held to a tolerance; ``F32_RTOL`` is
  50x the largest difference seen in the first steps (2e-5 at 256 samples, 2e-6 at 16,384), while the
  loss falls by tens of percent over those steps at lr 1e-4, so a peer training another problem (another
  lr, init or loss) fails it.
- float64, with ``--check`` (each peer in a process of its own, bench's loop in process with the reference's
  weights copied in, ``bench_run.train``): ``--check-steps`` steps of min(K, 3) members on min(N, 16,384)
  samples, every step within ``F64_RTOL`` relative. In float64 the same chaos starts 9 digits lower: the
  peers agree to 1e-13 or better over 30 steps, so ``F64_RTOL`` leaves room for longer checks and other
  BLAS builds while staying far below float32's rounding; this is the check that each computes the same
  training, not merely a similar one.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.core.provenance import device_name
from bench.perf.cpu_share import CpuShare
from benchmarks.peers import bench_run, jax_vmap
from benchmarks.peers.problem import PRESETS, Shape
from benchmarks.peers.worker import PEERS

ROOT = Path(__file__).resolve().parents[2]
BENCH_ROWS = ("bench run", "bench run (sizes cached)", "bench run --compile on")
ROWS = (*PEERS[:-1], *BENCH_ROWS)  # "bench" in process is the curve check's only
BASELINE = BENCH_ROWS[0]
F32_STEPS, F32_RTOL = 10, 1e-3
F64_RTOL = 1e-9
CHECK_MEMBERS, CHECK_SAMPLES = 3, 16384


@dataclass
class Row:
    peer: str
    seconds: float = float("nan")
    rate: float = float("nan")
    warmup: str = ""
    others: float = float("nan")
    check: str = ""
    note: str = ""  # instead of the numbers: why there are none


class Failed(Exception):
    """A peer's process exited with an error; the message is its last line of stderr."""


def environment(threads: int, scratch: Path) -> dict[str, str]:
    """The peers' environment: T threads everywhere, compile caches in ``scratch``, this checkout importable."""
    xla = os.environ.get("XLA_FLAGS", "")
    if threads == 1 and "xla_cpu_multi_thread_eigen" not in xla:
        xla = f"{xla} --xla_cpu_multi_thread_eigen=false".strip()
    return os.environ | {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "XLA_FLAGS": xla,
                         "TORCHINDUCTOR_CACHE_DIR": str(scratch / "torch-compile"),
                         "BENCH_MEMBERS_CACHE": str(scratch / "members.json"),
                         "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def timed(argv: list[str], env: dict[str, str], threads: int) -> tuple[float, float, str, str]:
    """Wall seconds of one process pinned to ``threads`` CPUs, others' CPU share meanwhile, stdout, stderr."""
    cpus = sorted(os.sched_getaffinity(0))[:threads]
    others, started = CpuShare(), time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True,
                          preexec_fn=lambda: os.sched_setaffinity(0, cpus))
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise Failed(f"exit {done.returncode}: {last[:160]}")
    return seconds, others.others(), done.stdout, done.stderr


def worker(peer: str, shape: Shape, threads: int, float64: bool = False) -> list[str]:
    """The command line of ``peer``'s worker process (``benchmarks.peers.worker``)."""
    flags = [f"--{name}={value}" for name, value in vars(shape).items()]
    return [sys.executable, "-m", "benchmarks.peers.worker", peer, *flags, f"--threads={threads}",
            *(["--float64"] if float64 else [])]


def record(stdout: str) -> dict:
    """The worker's JSON line (its last line of output)."""
    return json.loads(stdout.strip().splitlines()[-1])


def worst_difference(result: dict, reference: dict, steps: int | None = None) -> float:
    """Largest relative difference of a worker's losses from the reference's at the steps both kept (the first
    ``steps`` of them when given)."""
    theirs = dict(zip(result["steps"], result["losses"]))
    ours = dict(zip(reference["steps"], reference["losses"]))
    common = [step for step in ours if step in theirs][:steps]
    a, b = np.array([theirs[s] for s in common]), np.array([ours[s] for s in common])
    return float(np.max(np.abs(a - b) / np.abs(b)))


def verdict(what: str, difference: float, tolerance: float) -> str:
    """A check's cell text: what was compared, the worst relative difference, ok or FAILED (NaN fails)."""
    return f"{what} {difference:.0e} {'ok' if difference <= tolerance else 'FAILED'}"


def measuring(stderr: str) -> str:
    """What ``bench run`` said it spent measuring ensemble sizes, and warming up or compiling while it measured
    (its "measuring took ..." line), as "; measuring 1.1, warming up 1.8" (empty when it measured nothing)."""
    line = next((line for line in stderr.splitlines() if line.startswith("measuring took")), "")
    parts = [f"measuring {m}" for m in re.findall(r"^measuring took ([\d.]+) s", line)]
    parts += [f"{what} {seconds}" for seconds, what in re.findall(r"([\d.]+) s of (warming up|compiling)", line)]
    return "; " + ", ".join(parts) if parts else ""


def time_rows(shape: Shape, threads: int, rows: list[str], scratch: Path) -> list[Row]:
    """Each row's process, timed, in the order given (the reference's first: the float32 checks need it)."""
    env, done, reference = environment(threads, scratch), [], None
    for name in rows:
        row = Row(name)
        done.append(row)
        if name == "jax" and not jax_vmap.available():
            row.note = jax_vmap.MISSING
            continue
        try:
            if name in BENCH_ROWS:
                out = scratch / f"results-{BENCH_ROWS.index(name)}"
                argv = bench_run.command(sys.executable, shape, threads, out, compile=name.endswith("on"))
                if name == BENCH_ROWS[0]:  # a first run: its ensemble sizes not yet measured
                    Path(env["BENCH_MEMBERS_CACHE"]).unlink(missing_ok=True)
                row.seconds, row.others, _, stderr = timed(argv, env, threads)
                row.rate, excess, sizes = bench_run.steady(out)
                row.warmup = f"{excess:.1f}{measuring(stderr)}"
                row.check = f"own init; ensembles of {', '.join(map(str, sizes))}"
            else:
                row.seconds, row.others, stdout, _ = timed(worker(name, shape, threads), env, threads)
                result = record(stdout)
                row.rate, row.warmup = result["member_steps_per_s"], f"{result['warmup_s']:.1f}"
                if name == "reference":
                    reference = result
                elif reference is not None:
                    row.check = verdict(f"float32, first {F32_STEPS} steps:", worst_difference(
                        result, reference, F32_STEPS), F32_RTOL)
        except Failed as exc:
            row.note = f"failed ({exc})"
        print(f"  {name}: {row.note or f'{row.seconds:.1f} s'}", file=sys.stderr, flush=True)
    return done


def check_rows(shape: Shape, threads: int, rows: list[Row], scratch: Path, steps: int) -> None:
    """The float64 curve check of every peer that ran, added to its row's check."""
    small = shape.but(members=min(shape.members, CHECK_MEMBERS), samples=min(shape.samples, CHECK_SAMPLES),
                      steps=min(shape.steps, steps))
    env, reference_row = environment(threads, scratch), next(row for row in rows if row.peer == "reference")
    try:
        reference = record(timed(worker("reference", small, threads, float64=True), env, threads)[2])
    except Failed as exc:
        reference_row.check = f"float64 reference failed ({exc})"
        return
    checked = {"bench": [row for row in rows if row.peer in BENCH_ROWS and not row.note]}
    checked |= {row.peer: [row] for row in rows if row.peer in PEERS and row.peer != "reference" and not row.note}
    for peer, its_rows in checked.items():
        if not its_rows:
            continue
        try:
            result = record(timed(worker(peer, small, threads, float64=True), env, threads)[2])
            outcome = verdict(f"float64, {small.steps} steps:", worst_difference(result, reference), F64_RTOL)
        except Failed as exc:
            outcome = f"float64 check failed ({exc})"
        for row in its_rows:
            row.check = "; ".join(filter(None, [row.check, outcome]))
    reference_row.check = (f"float64: {small.members} x {small.steps} steps on {small.samples:,} samples "
                           "(the others' basis)")


def table(rows: list[Row]) -> str:
    """The Markdown table, ratios against the ``BASELINE`` row."""
    base = next((row for row in rows if row.peer == BASELINE and not row.note), None)
    lines = ["| peer | whole process (s) | x bench | steady member-steps/s | x bench | compile / warm-up (s) "
             "| others' CPU | curve check |", "|:--|--:|--:|--:|--:|:--|--:|:--|"]
    for row in rows:
        if row.note:
            lines.append(f"| {row.peer} | {row.note} | | | | | | {row.check} |")
            continue
        whole = f"{base.seconds / row.seconds:.2f}" if base else ""
        steady = f"{row.rate / base.rate:.2f}" if base else ""
        lines.append(f"| {row.peer} | {row.seconds:.1f} | {whole} | {row.rate:.1f} | {steady} | {row.warmup} "
                     f"| {row.others:.0%} | {row.check} |")
    return "\n".join(lines)


def heading(shape: Shape, threads: int) -> str:
    """Where and on what the table was measured."""
    import torch

    cpu = device_name(torch.device("cpu"))
    versions = f"torch {torch.__version__}"
    if jax_vmap.available():
        import jax
        import optax

        versions += f", jax {jax.__version__}, optax {optax.__version__}"
    return (f"{shape.members} members x {shape.steps} steps, {shape.samples:,} samples of relay, {shape.layers} x "
            f"{shape.width} SIREN; {threads} thread(s) per process; {cpu}; {versions}; "
            f"{time.strftime('%Y-%m-%d %H:%M')}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peers", description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=sorted(PRESETS), default="bar", help="; ".join(
        f"{name}: {s.members} members x {s.steps} steps, {s.samples:,} samples, {s.layers} x {s.width}"
        for name, s in PRESETS.items()) + " (default bar)")
    for name in ("members", "steps", "samples", "width", "layers"):
        parser.add_argument(f"--{name}", type=int, help="override the shape's")
    parser.add_argument("--threads", type=int, default=1, help="CPUs and threads of every process (default 1)")
    parser.add_argument("--peers", help=f"comma-separated rows to run (default all: {', '.join(ROWS)})")
    parser.add_argument("--check", action="store_true", help="add the float64 curve check")
    parser.add_argument("--check-steps", type=int, default=30, help="steps of the float64 check (default 30)")
    args = parser.parse_args(argv)
    shape = PRESETS[args.shape].but(members=args.members, steps=args.steps, samples=args.samples,
                                    width=args.width, layers=args.layers)
    if min(vars(shape).values()) < 1 or args.threads < 1 or args.check_steps < 1:
        parser.error("shape, --threads and --check-steps must be positive")
    if args.threads > len(os.sched_getaffinity(0)):
        parser.error(f"--threads {args.threads}: this process may run on {len(os.sched_getaffinity(0))} CPUs")
    rows = args.peers.split(",") if args.peers else list(ROWS)
    unknown = [name for name in rows if name not in ROWS]
    if unknown:
        parser.error(f"unknown peer(s) {', '.join(unknown)}; choose from {', '.join(ROWS)}")
    rows = ["reference", *(name for name in rows if name != "reference")]  # every curve check compares with it
    with tempfile.TemporaryDirectory(prefix="peers-") as scratch:
        done = time_rows(shape, args.threads, rows, Path(scratch))
        if args.check:
            check_rows(shape, args.threads, done, Path(scratch), args.check_steps)
    print(heading(shape, args.threads) + "\n\n" + table(done))
