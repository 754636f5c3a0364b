"""Training settings as grid axes end to end: swept learning rates share an ensemble and each cell has the
numbers of its own run; bench run sweeps comma-separated settings."""

import pandas as pd
import pytest

from bench.cli import main


HEAD = "seeds = [0, 1]\nwidths = 8\nlayers = 1\n"
TAIL = "[models]\nsiren = {}\n[[tasks]]\ntask = 'audio'\nsignals = ['arch']\nmax_samples = 256\n"


@pytest.mark.slow
def test_swept_learning_rates_share_an_ensemble_and_each_cell_has_the_numbers_of_its_own_run(tmp_path, capsys):
    path = tmp_path / "lr.toml"
    path.write_text(HEAD + "[train]\nsteps = 30\nlr = [1e-4, 1e-3]\n" + TAIL)
    assert main(["sweep", str(path), "--out", str(tmp_path / "swept"), "--device", "cpu", "--no-progress",
                 "--max-members", "4"]) == 0
    swept = pd.read_parquet(tmp_path / "swept" / "results.parquet")
    assert sorted(swept["lr"].unique()) == [1e-4, 1e-3] and len(swept) == 4
    assert (swept["ensemble_size"] == 4).all()  # both learning rates trained as one ensemble
    for lr in (1e-4, 1e-3):
        assert main(["run", "--model", "siren", "--task", "audio:arch", "--max-samples", "256", "--width", "8",
                     "--layers", "1", "--steps", "30", "--lr", str(lr), "--seeds", "0-1", "--device", "cpu",
                     "--out", str(tmp_path / f"run{lr}"), "--no-progress"]) == 0
        alone = pd.read_parquet(tmp_path / f"run{lr}" / "results.parquet").sort_values("seed")
        cells = swept[swept["lr"] == lr].sort_values("seed")
        assert list(cells["cell_key"]) == list(alone["cell_key"])
        assert list(cells["snr_db"]) == list(alone["snr_db"])
    capsys.readouterr()


def test_a_preset_that_sweeps_train_settings_is_refused_by_bench_run(tmp_path, monkeypatch, capsys):
    from bench.experiment import presets

    (tmp_path / "lrs.toml").write_text(HEAD + "[train]\nsteps = 4\nlr = [1e-4, 1e-3]\n" + TAIL)
    monkeypatch.setattr(presets, "SPECS_DIR", tmp_path)  # a user's own specs folder
    assert main(["run", "--preset", "lrs", "--device", "cpu", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "spec lrs" in err and "--preset" in err, err


def test_bench_run_sweeps_comma_separated_settings_and_names_them_per_member(tmp_path, capsys):
    args = ["run", "--model", "siren", "--task", "audio:arch", "--max-samples", "256", "--width", "8", "--layers", "1",
            "--steps", "12", "--seeds", "0", "--device", "cpu", "--no-progress"]
    assert main(args + ["--lr", "1e-4,1e-3,0.001", "--out", str(tmp_path / "both")]) == 0
    out = capsys.readouterr().out
    assert "lr=0.0001 " in out and "lr=0.001 " in out
    both = pd.read_parquet(tmp_path / "both" / "results.parquet").sort_values("lr")
    assert list(both["lr"]) == [1e-4, 1e-3]
    assert main(args + ["--lr", "1e-3", "--out", str(tmp_path / "one")]) == 0
    one = pd.read_parquet(tmp_path / "one" / "results.parquet")
    assert list(one["cell_key"]) == [both["cell_key"].iloc[1]] and list(one["snr_db"]) == [both["snr_db"].iloc[1]]
