"""The GPU check in one command: on a machine with CUDA, in a few minutes, everything a GPU changes.

    python benchmarks/gpu_check.py --out results/gpu-check          # CUDA: the whole check
    python benchmarks/gpu_check.py --out /tmp/check --smoke         # tiny sizes (what the tests run on a CPU)

1. A member trained in an ensemble equals its solo run (eager): weights and final metric, on this device.
2. The step compiled (on CUDA: CUDA graphs) against eager: final metric within float tolerance.
3. The throughput table with the roofline floor for the audio and image problems (`bench bench`).
4. `bench sweep quick` and its report.

Everything goes into OUT (summary.md, throughput_*.csv, quick/ with its report) to commit under results/.
Without CUDA, parts 2-4 are skipped with a line saying so (part 1 runs on the CPU). Nothing is asserted as
a time limit: the summary states what was measured and whether each equality held.
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
from bench.provenance import device_name  # noqa: E402
from bench.signals import SignalLibrary  # noqa: E402
from bench.tasks import load_task  # noqa: E402
from bench.training import TrainConfig, train  # noqa: E402


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
    return (f"member 2 of 4 against its solo run, {steps} steps eager: "
            f"{'bit for bit equal' if same else 'DIFFERENT'} (final {finals[2]:.6f} / {solo_finals[0]:.6f} dB)")


def compiled_near_eager(task, steps: int) -> str:
    _, eager = fitted(task, [0, 1], steps)
    _, compiled = fitted(task, [0, 1], steps, compile=True)
    gap = max(abs(a - b) for a, b in zip(eager, compiled))
    return (f"compiled against eager, 2 members, {steps} steps: largest final-metric gap {gap:.2e} dB "
            f"({'within' if gap < 0.05 else 'OUTSIDE'} the 0.05 dB float tolerance)")


def bench(*argv: str, out: Path | None = None) -> None:
    result = subprocess.run([sys.executable, "-m", "bench", *argv], cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"bench {' '.join(argv)} failed: {result.stderr.strip().splitlines()[-1]}")
    if out is not None:
        out.write_text(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="folder for the summary, tables and the quick sweep")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks that the script runs")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    samples, steps = (1024, 20) if args.smoke else (16384, 300)
    task = load_task("audio:relay", SignalLibrary(), {"max_samples": samples}).to(device)
    lines = [f"# GPU check on {device_name(device)}, torch {torch.__version__}", ""]
    started = time.perf_counter()
    lines.append(f"- {member_equals_solo(task, steps)}")
    if cuda:
        lines.append(f"- {compiled_near_eager(task, steps)}")
        for config in ("audio", "image"):
            bench("bench", "--config", config, "--members", "1,4,16", "--compile", "--roofline", "--device", "cuda",
                  "--format", "csv", *(["--steps", "10"] if args.smoke else []), out=args.out / f"throughput_{config}.csv")
            lines.append(f"- throughput with the roofline floor: throughput_{config}.csv")
        bench("sweep", "quick", "--out", str(args.out / "quick"), "--device", "cuda", "--no-progress")
        bench("report", str(args.out / "quick"), "--out", str(args.out / "quick-report"))
        lines.append("- `bench sweep quick`: quick/ (rows), quick-report/ (its report)")
    else:
        lines.append("- skipped without CUDA: compiled against eager, the throughput tables, `bench sweep quick`")
    lines += ["", f"{time.perf_counter() - started:.0f} s in all."]
    (args.out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
