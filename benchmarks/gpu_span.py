"""Advance the full benchmark on a GPU in short spans: the next minutes of each preset, resumed where the
last span stopped, on this machine or another.

    python benchmarks/gpu_span.py --minutes 8 --export $OUT       # a GPU span: the next 8 minutes
    python benchmarks/gpu_span.py --minutes 1 --device cpu --presets SPEC --results DIR   # the CPU path

Each preset's sweep is RESULTS/<preset>/sweep (for a spec file, its name without .toml) (default results/, where its rows are committed). The presets
run one after another (default: the SIREN² paper's audio, then its images, every clip and image at 5 seeds).
The running sweep saves each ensemble's training state every --checkpoint-every seconds (into
sweep/_checkpoints, which git ignores); at the deadline it is stopped (SIGTERM, the signal a timeout sends): the
rows of finished ensembles stay, and the ensemble in flight resumes from its last save in the next span, bit for
bit. --export DIR copies each preset's sweep folder, checkpoints included, to DIR/<preset>/sweep, so that a
machine which keeps nothing hands it back (copy it over RESULTS/<preset>/sweep, and bring the checkpoints to
the next span). At the end it prints each preset's `bench status` and this span's training rate, member-steps
per second against the float32 matmul floor of this device (the rows' matmul FLOPs at the rate a large
square matmul reaches here), and appends the same lines to RESULTS/gpu-spans.md.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.core.provenance import device_name  # noqa: E402
from bench.experiment.store import has_results, read_results  # noqa: E402
from bench.perf.roofline import measure_rates  # noqa: E402

PRESETS = ("siren2-paper-audio", "siren2-paper-image")
CHECKPOINT_EVERY_S = 60  # a span loses at most this much of the ensemble it stops (the default, 300, is a third of a span)
STOP_GRACE_S = 60  # after SIGTERM, how long the sweep may take to exit before it is killed
LOG = "gpu-spans.md"


def stored_keys(sweep: Path) -> set[str]:
    """Cell keys of the rows already in a sweep folder (empty before its first span)."""
    return set(read_results(sweep)["cell_key"]) if has_results(sweep) else set()


def run_until(argv: list[str], deadline: float) -> str:
    """Run ``argv`` until it exits or ``deadline`` (time.monotonic) passes, then stop it with SIGTERM (and SIGKILL
    after STOP_GRACE_S). Returns how it ended, in words."""
    process = subprocess.Popen(argv, cwd=ROOT)
    try:
        code = process.wait(timeout=max(deadline - time.monotonic(), 0))
        return "finished" if code == 0 else f"exited with {code}"
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        return "stopped at the deadline (the ensemble in flight resumes from its checkpoint)"


def status(sweep: Path) -> str:
    """`bench status` of a sweep folder, one line."""
    done = subprocess.run([sys.executable, "-m", "bench", "status", str(sweep)], cwd=ROOT, capture_output=True,
                          text=True)
    return (done.stdout.strip() or done.stderr.strip()).splitlines()[-1]


def span_rate(rows: pd.DataFrame, matmul_flop_per_s: float) -> str:
    """This span's ok rows: median member-steps/s of their ensembles and how many times slower than the matmul floor
    (an ensemble's matmul FLOPs per second, ``gflop_per_s`` per member x members, against the device's rate)."""
    ok = rows[rows["status"] == "ok"]
    if ok.empty:
        return "no member finished in this span"
    member_steps = ok["ensemble_size"] * ok["steps_per_s"]
    achieved = ok["gflop_per_s"] * 1e9 * ok["ensemble_size"]
    return (f"{len(ok)} members finished, {member_steps.median():.1f} member-steps/s (median over them), "
            f"{(matmul_flop_per_s / achieved).median():.1f}x the float32 matmul floor")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, required=True, help="wall minutes the sweeps may run in this span")
    parser.add_argument("--presets", default=",".join(PRESETS),
                        help=f"comma-separated specs, run in this order (default {','.join(PRESETS)})")
    parser.add_argument("--results", type=Path, default=ROOT / "results",
                        help="folder holding <preset>/sweep (default: the repository's results/)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--export", type=Path, help="copy each preset's sweep folder, checkpoints included, here")
    args = parser.parse_args()
    if args.minutes < 0:
        parser.error(f"--minutes {args.minutes:g}: give the minutes this span may run, 0 or more")
    presets = [p.strip() for p in args.presets.split(",") if p.strip()]
    if not presets:
        parser.error("--presets is empty; name at least one spec, e.g. siren2-paper-audio")
    device = torch.device(args.device)
    deadline = time.monotonic() + 60 * args.minutes
    lines = [f"## Span of {args.minutes:g} minutes on {device_name(device)}, torch {torch.__version__}, "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"]
    spans = []
    for preset in presets:
        name = Path(preset).stem  # a preset's name, or a spec file's without .toml
        sweep = args.results / name / "sweep"
        before = stored_keys(sweep)
        ended = "not started (the span's minutes were spent)"
        if time.monotonic() < deadline:
            ended = run_until([sys.executable, "-m", "bench", "sweep", preset, "--out", str(sweep), "--device",
                               args.device, "--checkpoint-every", str(CHECKPOINT_EVERY_S), "--no-progress"], deadline)
        new = read_results(sweep) if has_results(sweep) else pd.DataFrame(columns=["cell_key"])
        spans.append((name, sweep, ended, new[~new["cell_key"].isin(before)]))
    rate = measure_rates(device).matmul_flop_per_s  # after the sweeps, so that it takes none of their minutes
    for name, sweep, ended, new in spans:
        lines.append(f"- {name}: {ended}; {span_rate(new, rate) if not new.empty else 'no member finished'}; "
                     f"{status(sweep) if sweep.is_dir() else 'no sweep folder yet'}")
        if args.export and sweep.is_dir():
            shutil.copytree(sweep, args.export / name / "sweep", dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("_lock"))
    text = "\n".join(lines) + "\n"
    print(text, end="")
    args.results.mkdir(parents=True, exist_ok=True)
    with (args.results / LOG).open("a") as log:
        log.write(text + "\n")
    if args.export:
        args.export.mkdir(parents=True, exist_ok=True)
        shutil.copy(args.results / LOG, args.export / LOG)


if __name__ == "__main__":
    main()
