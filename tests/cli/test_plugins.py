"""Open for extension: results any reader gets whole, and a task, signal kind and metric added from one
plugin file outside bench/."""

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from bench.cli import main


TINY = ["--width", "8", "--layers", "1", "--steps", "3", "--device", "cpu", "--no-progress", "--max-members", "2", "--seeds", "0"]

JITTER_PLUGIN = '''
from bench.models import Member, register_model
from bench.models.siren import siren
from bench.core.registry import NonNegativeFloat


@register_model()
def siren_jitter(m: Member, jitter: NonNegativeFloat = 0.5) -> dict:
    """SIREN plus uniform jitter on the hidden weights."""
    used = siren(m)
    for i in range(1, len(m.weights) - 1):
        m.weights[i] += m.uniform(m.weights[i].shape, jitter / 30.0)
    return used
'''


def test_image_audio_and_plugin_rows_in_one_folder_are_read_whole_by_any_reader(tmp_path, capsys):
    plugin = tmp_path / "jitter.py"
    plugin.write_text(JITTER_PLUGIN)
    out = tmp_path / "mixed"
    assert main(["run", "--model", "siren", "--task", "image:camera", "--side", "16", "--out", str(out), *TINY]) == 0
    assert main(["--plugin", str(plugin), "run", "--model", "siren", "--model", "siren_jitter:jitter=1.0",
                 "--task", "audio:relay", "--max-samples", "512", "--out", str(out), *TINY]) == 0
    capsys.readouterr()
    ours = pd.read_parquet(out)  # what docs/results.md tells a pandas user to do
    assert len(ours) == 3
    image, audio = ours[ours["task"] == "image"], ours[ours["task"] == "audio"]
    for column in ("psnr_db", "ssim", "best_psnr_db", "height_px"):
        assert image[column].notna().all(), column
    for column in ("snr_db", "lsd", "si_snr_db", "best_snr_db", "sample_rate"):
        assert audio[column].notna().all(), column
    assert audio.set_index("model").loc["siren_jitter", "param.jitter"] == 1.0
    glob = str(Path(out) / "*.parquet")
    with duckdb.connect() as db:
        duck = db.execute(f"SELECT * FROM read_parquet('{glob}')").df()
    assert list(duck.columns) == list(ours.columns) and len(duck) == len(ours)
    pd.testing.assert_series_equal(duck["snr_db"], ours["snr_db"], check_dtype=False)
    pd.testing.assert_series_equal(duck["psnr_db"], ours["psnr_db"], check_dtype=False)


DOCS = Path(__file__).resolve().parents[2] / "docs" / "extending.md"


def curve_plugin_code() -> str:
    """The plugin of docs/extending.md (a task with its own kind of signal and metric), as the docs give it."""
    text = DOCS.read_text().split("### Example: a new kind of signal with its own metric", 1)[1]
    return text.split("```python\n", 1)[1].split("```", 1)[0]


def curve_plugin(tmp_path, library):
    """The plugin file and a curve for it: a real clip's first 512 samples."""
    import soundfile as sf

    plugin = tmp_path / "curve_plugin.py"
    plugin.write_text(curve_plugin_code())
    samples, _ = sf.read(library.path("relay", "audio"), frames=512, always_2d=True)
    curve = tmp_path / "relay_head.npy"
    np.save(curve, samples.mean(axis=1) / np.abs(samples).max())
    return plugin, curve


def test_a_plugin_task_with_its_own_signal_kind_and_metric_runs_and_reports(tmp_path, capsys, library):
    """A task, a kind of signal and a metric from one file outside bench/; no file under bench/ edited."""
    plugin, curve = curve_plugin(tmp_path, library)
    out, report = tmp_path / "runs", tmp_path / "report"
    run = ["--plugin", str(plugin), "run", "--task", f"curve:{curve}", "--out", str(out), *TINY]

    assert main(run + ["--model", "siren"]) == 2  # siren's w0_first default exists for audio and images only
    error = capsys.readouterr().err
    assert "siren has no default w0_first for curve signals" in error and "--model siren:w0_first=VALUE" in error
    assert not (out / "results.parquet").exists()  # nothing stored

    assert main(run + ["--model", "siren:w0_first=30", "--ntk", "init"]) == 2  # its points lie on no declared grid
    assert "declares none (Task.grid)" in capsys.readouterr().err

    assert main(run + ["--model", "siren:w0_first=30", "--model", "winner:s0=10,s1=0.1", "--seeds", "0-1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and all("rmse=" in line and "best=" in line for line in lines)
    rows = pd.read_parquet(out)
    assert (rows["main_metric"] == "rmse").all() and (rows["best_rmse"] <= rows["curve_rmse"].map(min) + 1e-9).all()

    assert main(["--plugin", str(plugin), "report", str(out), "--out", str(report), "--baseline", "siren:w0_first=30.0"]) == 0
    readme = (report / "README.md").read_text()
    assert "## RMSE (amplitude): `rmse`, lower is better" in readme and "lower rmse is better, so a negative" in readme
    table = (report / "table_rmse.md").read_text()
    means = rows.groupby("model_spec")["rmse"].mean()
    assert f"**{means.min():.4f}" in table and f"**{means.max():.4f}" not in table  # the lower mean in bold
    assert (report / "rmse_per_signal.png").is_file()
    capsys.readouterr()
    assert main(["--plugin", str(plugin), "table", str(out)]) == 0
    assert capsys.readouterr().out.startswith("rmse: RMSE (amplitude), lower is better")


CURVE_SPEC = """seeds = [0]
widths = 8
layers = 1
max_members = 2
[train]
steps = 3
[models]
"siren" = {{w0_first = 30.0}}
[[tasks]]
task = "curve"
signals = ["{curve}"]
{scale}
"""


def test_task_options_are_columns_never_pooled_and_a_spelled_out_default_is_the_same_cell(tmp_path, capsys, library):
    from bench.models import load_plugin
    from bench.experiment.plan import expand
    from bench.experiment.spec import parse_spec

    plugin, curve = curve_plugin(tmp_path, library)
    load_plugin(plugin)
    keys = {text: {cell.key for cell in expand(parse_spec(CURVE_SPEC.format(curve=curve, scale=text), "s", library))}
            for text in ("", "scale = 1.0", "scale = 1", "scale = 2.0")}
    assert keys[""] == keys["scale = 1.0"] == keys["scale = 1"] != keys["scale = 2.0"]

    spec = tmp_path / "scales.toml"
    spec.write_text(CURVE_SPEC.format(curve=curve, scale="scale = [1.0, 2.0]"))
    out = tmp_path / "scales"
    assert main(["--plugin", str(plugin), "sweep", str(spec), "--out", str(out), "--device", "cpu", "--no-progress"]) == 0
    rows = pd.read_parquet(out)
    assert sorted(rows["option.scale"]) == [1.0, 2.0]
    capsys.readouterr()
    assert main(["--plugin", str(plugin), "table", str(out), "--format", "csv"]) == 0
    table = capsys.readouterr().out
    assert f",{curve} scale=1.0," in table and f",{curve} scale=2.0," in table  # two settings, one seed each


def test_task_seed_options_outside_their_domain_are_usage_errors(tmp_path, capsys):
    for task, flag, value in (("inpaint-audio:arch", "--mask-seed", "-1"), ("inpaint-image:camera", "--mask-seed", str(2**32)),
                              ("denoise-audio:arch", "--noise-seed", str(2**32)), ("denoise-image:camera", "--noise-seed", "-1")):
        assert main(["run", "--model", "siren", "--task", task, flag, value, "--out", str(tmp_path / "o"), *TINY]) == 2
        (line,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("bench")]
        assert flag in line and value in line, line
    assert not (tmp_path / "o").exists()


def test_rows_of_a_plugin_metric_tabulated_without_the_plugin_name_the_columns_and_the_flag(tmp_path, capsys, library):
    import subprocess
    import sys

    plugin, curve = curve_plugin(tmp_path, library)
    out = tmp_path / "runs"
    assert main(["--plugin", str(plugin), "run", "--task", f"curve:{curve}", "--model", "siren:w0_first=30",
                 "--out", str(out), *TINY]) == 0
    capsys.readouterr()
    # a fresh process, which has not loaded the plugin and so does not know its metric
    done = subprocess.run([sys.executable, "-m", "bench", "table", str(out)], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip() == ("bench: error: no declared metric reads the metric column rmse of these rows; "
                                   "pass the plugin that declares it: --plugin FILE")
    assert main(["run", "--task", "audio:relay", "--max-samples", "256", "--model", "siren", "--out", str(out), *TINY]) == 0
    done = subprocess.run([sys.executable, "-m", "bench", "table", str(out), "--format", "csv"], capture_output=True,
                          text=True, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0 and done.stdout.startswith("metric,signal,model,mean,std,n,seeds,ci_low,ci_high\nsnr_db,")
    # ^ the rest is tabulated...
    assert "bench: warning: no declared metric reads the metric column rmse" in done.stderr  # ...and rmse named
