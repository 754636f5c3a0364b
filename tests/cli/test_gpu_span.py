"""benchmarks/gpu_span.py on its CPU path: a span stopped at its deadline loses no row, the next span finishes the
sweep, and the rows equal those of one uninterrupted `bench sweep` of the same spec."""

import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_span.py"
SPEC = """
name = "span"
seeds = "0-1"
widths = 8
layers = 1
max_members = 4  # one ensemble, no sizes measured
[train]
steps = {steps}
[models]
siren = {{}}
winner = {{}}
[[tasks]]
task = "audio"
signals = ["relay"]
max_samples = 256
"""


def span(tmp_path: Path, minutes: float, *extra: str) -> str:
    result = subprocess.run([sys.executable, str(SCRIPT), "--minutes", str(minutes), "--device", "cpu", "--presets",
                             str(tmp_path / "span.toml"), "--results", str(tmp_path / "results"), *extra],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return result.stdout


def metrics(folder: Path) -> pd.DataFrame:
    rows = pd.read_parquet(folder / "results.parquet")
    return rows.set_index("cell_key").sort_index()[["status", "snr_db", "best_step"]]


def test_spans_stopped_at_their_deadline_resume_to_the_rows_of_one_sweep(tmp_path, need):
    need("relay")
    (tmp_path / "span.toml").write_text(SPEC.format(steps=40))
    sweep = tmp_path / "results" / "span" / "sweep"

    first = span(tmp_path, 0.0)  # no minutes: nothing trains, and it says so
    assert "span: not started (the span's minutes were spent); no member finished" in first
    assert not sweep.exists()

    second = span(tmp_path, 10.0, "--export", str(tmp_path / "out"))
    assert "span: finished; 4 members finished" in second and "x the float32 matmul floor" in second
    assert "4 done (4 ok, 0 diverged)" in second and "0 not run yet" in second
    assert (tmp_path / "out" / "span" / "sweep" / "results.parquet").is_file()
    assert "## Span of 10 minutes" in (tmp_path / "out" / "gpu-spans.md").read_text()

    again = span(tmp_path, 10.0)  # a finished sweep: the next span trains nothing
    assert "span: finished; no member finished" in again
    assert (tmp_path / "results" / "gpu-spans.md").read_text().count("## Span of") == 3


def test_a_span_stopped_mid_sweep_loses_nothing_and_the_next_gives_the_rows_of_one_sweep(tmp_path, need):
    need("relay")
    (tmp_path / "span.toml").write_text(SPEC.format(steps=600))
    sweep = tmp_path / "results" / "span" / "sweep"
    # one second: the sweep is stopped while it starts or trains, however fast the machine
    assert "span: stopped at the deadline" in span(tmp_path, 1 / 60)
    done = span(tmp_path, 10.0)
    assert "span: finished; 4 members finished" in done and "0 not run yet" in done
    direct = tmp_path / "direct"
    subprocess.run([sys.executable, "-m", "bench", "sweep", str(tmp_path / "span.toml"), "--out", str(direct),
                    "--device", "cpu", "--no-progress"], check=True, capture_output=True, cwd=ROOT)
    pd.testing.assert_frame_equal(metrics(sweep), metrics(direct))
