"""The GPU check in one command: on a machine with CUDA, in a few minutes, everything a GPU changes.

    python benchmarks/gpu_check.py --out results/gpu-check          # CUDA: the whole check
    python benchmarks/gpu_check.py --out /tmp/check --smoke         # tiny sizes (what the tests run on a CPU)
    python benchmarks/gpu_check.py --out OUT --parts equal,compiled # some parts only (appended to OUT/summary.md)

Parts (``--parts``, default all):

- equal: a member trained in an ensemble equals its solo run (eager): weights and final metric, on this device.
- compiled: the step compiled (on CUDA: CUDA graphs) against eager: final metric within float tolerance.
- throughput: the throughput tables with the roofline floor for the audio and image problems (`bench bench`).
- quick: `bench sweep quick` and its report.

Everything goes into OUT (summary.md, throughput_*.csv, quick/ with its report) to commit under results/.
Without CUDA only `equal` runs (on the CPU); the others are skipped with a line saying so. A part that fails
is a line of the summary naming the failure, and the next part still runs. Nothing is asserted as a time
limit: the summary states what was measured, how long each part took, and whether each equality held.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.models import Architecture, MemberSpec, build_ensemble, parse_model  # noqa: E402
from bench.core.provenance import device_name  # noqa: E402
from bench.signals.library import SignalLibrary  # noqa: E402
from bench.tasks import load_task  # noqa: E402
from bench.training import TrainConfig, train  # noqa: E402

PARTS = ("equal", "compiled", "throughput", "quick")
CUDA_ONLY = ("compiled", "throughput", "quick")


def fitted(task, seeds: list[int], steps: int, compile: bool = False):
    """An ensemble of siren members with these seeds, trained ``steps`` steps: (weights [K, ...], finals [K])."""
    arch = Architecture.of(task.info, 64, 3)
    model, _ = build_ensemble([MemberSpec(parse_model("siren"), seed) for seed in seeds], arch, task.info)
    outcome = train(model.to(task.coords.device), task, TrainConfig(steps=steps, lr=1e-4), progress=False,
                    compile=compile)
    return [w.detach().cpu() for w in model.weights], [m.final for m in outcome.members]


def member_equals_solo(task, steps: int) -> str:
    weights, finals = fitted(task, [0, 1, 2, 3], steps)
    solo_weights, solo_finals = fitted(task, [2], steps)
    same = all(torch.equal(w[2], s[0]) for w, s in zip(weights, solo_weights)) and finals[2] == solo_finals[0]
    gap = max(float((w[2] - s[0]).abs().max()) for w, s in zip(weights, solo_weights))
    return (f"member 2 of 4 against its solo run, {steps} steps eager: "
            f"{'bit for bit equal' if same else f'DIFFERENT (largest weight difference {gap:.2e})'} "
            f"(final {finals[2]:.6f} / {solo_finals[0]:.6f} dB)")


def compiled_near_eager(task, steps: int) -> str:
    _, eager = fitted(task, [0, 1], steps)
    _, compiled = fitted(task, [0, 1], steps, compile=True)
    gap = max(abs(a - b) for a, b in zip(eager, compiled))
    return (f"compiled against eager, 2 members, {steps} steps: largest final-metric gap {gap:.2e} dB "
            f"({'within' if gap < 0.05 else 'OUTSIDE'} the 0.05 dB float tolerance)")


def bench(*argv: str, out: Path | None = None) -> None:
    """Run ``python -m bench ARGV`` (its stdout into ``out``); a failure raises with its last stderr line."""
    result = subprocess.run([sys.executable, "-m", "bench", *argv], cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"bench {' '.join(argv)} exited {result.returncode}: {last}")
    if out is not None:
        out.write_text(result.stdout)


def throughput_tables(out: Path, smoke: bool) -> str:
    for config in ("audio", "image"):
        bench("bench", "--config", config, "--members", "1,4,16", "--compile", "--roofline", "--device", "cuda",
              "--format", "csv", *(["--steps", "10"] if smoke else []), out=out / f"throughput_{config}.csv")
    return "throughput with the roofline floor: throughput_audio.csv, throughput_image.csv"


def quick_sweep(out: Path) -> str:
    bench("sweep", "quick", "--out", str(out / "quick"), "--device", "cuda", "--no-progress")
    bench("report", str(out / "quick"), "--out", str(out / "quick-report"))
    return "`bench sweep quick`: quick/ (rows), quick-report/ (its report)"


def parse_parts(text: str) -> list[str]:
    parts = list(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))  # a part named twice runs once
    unknown = sorted(set(parts) - set(PARTS))
    if unknown or not parts:
        raise SystemExit(f"--parts {text}: unknown part(s) {', '.join(unknown) or '(none given)'}; "
                         f"choose from {', '.join(PARTS)}")
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="folder for the summary, tables and the quick sweep")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks that the script runs")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--parts", default=",".join(PARTS), type=parse_parts,
                        help=f"comma-separated parts to run (default all: {','.join(PARTS)})")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    samples, steps = (1024, 20) if args.smoke else (16384, 300)
    task = load_task("audio:relay", SignalLibrary(), {"max_samples": samples}).to(device)
    summary = args.out / "summary.md"
    header = f"# GPU check on {device_name(device)}, torch {torch.__version__}\n"
    if not summary.exists() or not summary.read_text().startswith(header):  # another machine's: start anew
        summary.write_text(header + "\n")
    runs = {"equal": lambda: member_equals_solo(task, steps), "compiled": lambda: compiled_near_eager(task, steps),
            "throughput": lambda: throughput_tables(args.out, args.smoke), "quick": lambda: quick_sweep(args.out)}
    skipped = [part for part in args.parts if part in CUDA_ONLY and not cuda]
    failed = False
    for part in args.parts:
        if part in skipped:
            continue
        started = time.perf_counter()
        try:
            line = runs[part]()
        except Exception as exc:  # noqa: BLE001 - the summary names it and the next part runs
            said = (str(exc).strip().splitlines() or ["(no message)"])[-1][:300]
            line, failed = f"{part} FAILED: {type(exc).__name__}: {said}", True
        line = f"- {line} [{time.perf_counter() - started:.0f} s]"
        with summary.open("a") as f:
            f.write(line + "\n")
        print(line, flush=True)
    if skipped:
        line = "- skipped without CUDA: " + ", ".join(
            {"compiled": "compiled against eager", "throughput": "the throughput tables",
             "quick": "`bench sweep quick`"}[part] for part in skipped)
        with summary.open("a") as f:
            f.write(line + "\n")
        print(line)
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
