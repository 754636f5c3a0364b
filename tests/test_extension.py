"""Open for extension: results any reader gets whole, and a task, signal kind and metric added from one
plugin file outside bench/."""

from pathlib import Path

import duckdb
import pandas as pd

from bench.cli import main

TINY = ["--width", "8", "--layers", "1", "--steps", "3", "--device", "cpu", "--no-progress", "--max-members", "2", "--seeds", "0"]

JITTER_PLUGIN = '''
from bench.models import Member, register_model
from bench.models.siren import siren
from bench.registry import NonNegativeFloat


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
