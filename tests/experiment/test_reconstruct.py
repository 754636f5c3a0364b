"""bench reconstruct: the median-seed member of each setting trained again from its cell, its fit kept beside the
rows, and the report's reconstructions (figures, WAV files) and the site's audio players made from them."""

import numpy as np
import pandas as pd
import pytest
from scipy.io import wavfile

from bench.core.artifacts import ARTIFACTS_DIR, artifact_path, read_artifact
from bench.experiment.store import read_results
from bench.report.site import players
from tests.helpers import one_line_error, run_cli

SPEC = """
name = "tiny-fits"
description = "two inits on a clip and an image"
seeds = "0-2"
widths = 16
layers = 2
[train]
steps = 40
lr = 1e-3
[models]
siren = {}
winner = {}
[[tasks]]
task = "audio"
signals = ["relay"]
max_samples = 512
[[tasks]]
task = "image"
signals = ["camera"]
side = 24
"""


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """A finished sweep of the spec above and its reconstructions."""
    from bench.cli import main

    root = tmp_path_factory.mktemp("fits")
    (root / "spec.toml").write_text(SPEC)
    assert main(["sweep", str(root / "spec.toml"), "--out", str(root / "sweep"), "--threads", "1", "--no-progress"]) == 0
    assert main(["reconstruct", str(root / "sweep"), "--threads", "1"]) == 0
    return root


def test_the_median_seed_of_each_setting_is_trained_again_and_gives_its_row(swept):
    assert len(pd.read_parquet(swept / "sweep")) == 12  # kept fits do not stand in the way of Parquet readers
    rows = read_results(swept / "sweep")
    for (signal, model), group in rows.groupby(["signal", "model_spec"]):
        metric = group["main_metric"].iloc[0]
        ordered = group.sort_values([metric, "seed"])
        median = ordered.iloc[(len(ordered) - 1) // 2]  # the lower median of three: the middle one
        kept = [artifact_path(swept / "sweep", key).is_file() for key in group["cell_key"]]
        assert kept == list(group["cell_key"] == median["cell_key"]), (signal, model)
        artifact = read_artifact(artifact_path(swept / "sweep", median["cell_key"]))
        assert (artifact["signal"], artifact["model_spec"], int(artifact["seed"])) == (signal, model, median["seed"])
        assert float(artifact["stored"]) == median[metric]
        assert float(artifact["rerun"]) == median[metric]  # eager CPU steps: the cell alone fixes the numbers
        # the kept output is the fit the row scored: its metric computed here from the arrays agrees
        error = artifact["output"].astype(np.float64) - artifact["reference"]
        if metric == "psnr_db":
            assert 20 * np.log10(2 / np.sqrt(np.mean(error ** 2))) == pytest.approx(median[metric], abs=1e-3)
        else:
            power = np.mean(artifact["reference"].astype(np.float64) ** 2)
            assert 10 * np.log10(power / np.mean(error ** 2)) == pytest.approx(median[metric], abs=1e-3)
        assert tuple(artifact["grid"]) == ((512,) if signal == "relay" else (24, 24))


def test_a_second_reconstruct_keeps_what_is_kept(swept, capsys):
    before = {path: path.stat().st_mtime_ns for path in (swept / "sweep" / ARTIFACTS_DIR).iterdir()}
    code, _, err = run_cli(capsys, "reconstruct", str(swept / "sweep"), "--threads", "1")
    assert code == 0 and "kept 4 reconstructions" in err and " -> " not in err  # no member trained again
    assert {path: path.stat().st_mtime_ns for path in before} == before


def test_the_report_shows_the_fits_and_lets_one_listen(swept):
    from bench.cli import main

    out = swept / "report"
    assert main(["report", str(swept / "sweep"), "--out", str(out)]) == 0
    readme = (out / "README.md").read_text()
    assert "## Reconstructions" in readme
    assert "![reconstruction_camera.png](reconstruction_camera.png)" in readme
    assert "![reconstruction_relay.png](reconstruction_relay.png)" in readme
    rows = read_results(swept / "sweep")
    gain = None
    for model in ("siren", "winner"):
        assert f"[{model}](reconstructions/relay/{model}.wav)" in readme
        key = next(k for k in rows.loc[(rows["signal"] == "relay") & (rows["model_spec"] == model), "cell_key"]
                   if artifact_path(swept / "sweep", k).is_file())
        artifact = read_artifact(artifact_path(swept / "sweep", key))
        rate, samples = wavfile.read(out / "reconstructions" / "relay" / f"{model}.wav")
        assert rate == int(rows["sample_rate"].iloc[0]) and samples.dtype == np.int16
        gain = 1 / np.abs(artifact["reference"]).max()  # the target's peak at full scale, the fits alike
        expected = np.round(np.clip(artifact["output"][:, 0] * gain, -1, 1) * 32767)
        assert np.array_equal(samples, expected.astype(np.int16))
    _, target = wavfile.read(out / "reconstructions" / "relay" / "target.wav")
    assert np.abs(target).max() == 32767 and np.array_equal(target, np.round(artifact["reference"][:, 0] * gain
                                                                             * 32767).astype(np.int16))


def test_the_site_plays_the_clips():
    body = '<p><a href="../../results/x/reconstructions/relay/siren.wav">siren</a> <a href="a.png">a</a></p>'
    html = players(body)
    assert '<audio controls preload="none" src="../../results/x/reconstructions/relay/siren.wav" title="siren">' in html
    assert '<a href="a.png">a</a>' in html and html.count("<audio") == 1


def test_reconstruct_refuses_what_it_cannot_use(tmp_path, capsys):
    code, _, err = run_cli(capsys, "reconstruct", str(tmp_path / "nowhere"))
    assert code != 0 and "not found" in one_line_error(err)
    (tmp_path / "plain").mkdir()
    pd.DataFrame({"x": [1]}).to_parquet(tmp_path / "plain" / "results.parquet")
    code, _, err = run_cli(capsys, "reconstruct", str(tmp_path / "plain"))
    assert code != 0 and "_spec.toml" in one_line_error(err)


def test_a_row_of_other_code_is_not_trained_again(swept, tmp_path, capsys):
    import shutil

    from bench.experiment.store import RESULTS_FILE

    folder = tmp_path / "sweep"
    shutil.copytree(swept / "sweep", folder)
    rows = read_results(folder)
    kept = [key for key in rows["cell_key"] if artifact_path(folder, key).is_file()]
    winner = rows[rows["cell_key"].isin(kept) & (rows["model_spec"] == "winner") & (rows["signal"] == "camera")]
    key = winner["cell_key"].iloc[0]
    rows.loc[rows["cell_key"] == key, "model_code"] = "0" * 16  # as if siren.py had changed since
    rows.to_parquet(folder / RESULTS_FILE)
    artifact_path(folder, key).unlink()
    code, _, err = run_cli(capsys, "reconstruct", str(folder), "--threads", "1")
    assert code == 0 and "image:camera winner: not trained again, since the code of winner changed" in err
    assert not artifact_path(folder, key).is_file() and "kept 3 reconstructions" in err


def test_a_fit_kept_for_a_row_since_trained_again_is_made_anew(swept, tmp_path, capsys):
    import shutil

    from bench.experiment.store import RESULTS_FILE

    folder = tmp_path / "sweep"
    shutil.copytree(swept / "sweep", folder)
    rows = read_results(folder)
    key = next(k for k in rows.loc[rows["signal"] == "relay", "cell_key"] if artifact_path(folder, k).is_file())
    setting = (rows["signal"] == "relay") & (rows["model_spec"] == rows.loc[rows["cell_key"] == key, "model_spec"].iloc[0])
    rows.loc[setting, "snr_db"] += 1.0  # as if --retrain-changed had made the setting's rows anew (same median seed)
    rows.to_parquet(folder / RESULTS_FILE)
    code, _, err = run_cli(capsys, "reconstruct", str(folder), "--threads", "1")
    trained = [line for line in err.splitlines() if " -> " in line]
    assert code == 0 and len(trained) == 1 and f"{key}.npz" in trained[0], err
    kept = read_artifact(artifact_path(folder, key))
    assert float(kept["stored"]) == rows.loc[rows["cell_key"] == key, "snr_db"].iloc[0]
    assert float(kept["rerun"]) == float(kept["stored"]) - 1.0  # the fit itself, as the row was before
