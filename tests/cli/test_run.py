"""bench run end to end: rows on real signals, presets and flags, and what reaches the stored rows."""

import pandas as pd
import pytest

from bench.cli import main
from tests.helpers import TINY, one_line_error, run_cli


def test_run_then_table_on_a_real_clip(capsys, tmp_path):
    out_dir = tmp_path / "demo"
    code, out, err = run_cli(capsys, "run", "--model", "siren2", "--model", "siren2_filtered:decay=0.8",
                             "--task", "audio:arch", "--max-samples", "1024", "--seeds", "0-1",
                             "--max-members", "4", "--out", str(out_dir), *TINY)  # a fixed size: no timing decides
    assert code == 0, err
    member_lines = out.strip().splitlines()
    assert len(member_lines) == 4 and all("snr_db=" in line and "steps/s" in line for line in member_lines)
    frame = pd.read_parquet(out_dir)
    assert len(frame) == 4 and set(frame["model_spec"]) == {"siren2", "siren2_filtered:decay=0.8"}
    assert (frame["status"] == "ok").all() and frame["ensemble_size"].eq(4).all()

    code, out, err = run_cli(capsys, "table", str(out_dir), "--metric", "snr_db", "--format", "markdown")
    assert code == 0 and "seeds per cell: 2" in err
    cell = frame[frame["model_spec"] == "siren2"]["snr_db"]
    assert f"{cell.mean():.2f} ± {cell.std():.2f}" in out and "| arch " in out and "| mean over signals " in out
    code, out, _ = run_cli(capsys, "table", str(out_dir), "--format", "latex")
    assert code == 0 and r"\toprule" in out and r"$\pm$" in out


def test_image_run_records_psnr(capsys, tmp_path):
    code, out, err = run_cli(capsys, "run", "--model", "winner", "--task", "image:camera", "--side", "24",
                             "--seeds", "3", "--out", str(tmp_path), *TINY)
    assert code == 0, err
    row = pd.read_parquet(tmp_path).iloc[0]
    assert row["psnr_db"] == row["psnr_db"] and row["psnr_data_range"] == 2.0 and row["height_px"] == 24
    assert row["param.s0"] > 0 and row["seed"] == 3


def test_preset_sets_the_protocol_and_flags_override_it(capsys, tmp_path):
    code, _, err = run_cli(capsys, "run", "--preset", "siren2-paper-audio", "--model", "siren",
                           "--task", "audio:relay", "--max-samples", "512", "--seeds", "0",
                           "--out", str(tmp_path), *TINY)
    assert code == 0, err
    row = pd.read_parquet(tmp_path).iloc[0]
    assert (row["lr_step"], row["lr_gamma"], row["n_samples"], row["width"]) == (20, 0.99, 512, 16)
    code, _, err = run_cli(capsys, "run", "--preset", "siren2-paper-audio", "--task", "image:camera", *TINY)
    assert code == 2 and "preset siren2-paper-audio has no image task" in one_line_error(err)


def test_a_task_option_a_preset_sweeps_must_be_chosen_by_its_flag(capsys, tmp_path):
    code, _, err = run_cli(capsys, "run", "--preset", "bottleneck-vs-length", "--out", str(tmp_path / "out"), *TINY)
    line = one_line_error(err)  # names the preset, the option it sweeps, the flag and the command of the whole grid
    assert code == 2 and all(name in line for name in ("bottleneck-vs-length", "max_samples", "--max-samples",
                                                       "bench sweep bottleneck-vs-length")), line
    assert not (tmp_path / "out").exists()
    code, _, err = run_cli(capsys, "run", "--preset", "bottleneck-vs-length", "--model", "siren", "--seeds", "0",
                           "--task", "audio:synthetic:hf_noise", "--max-samples", "300", "--out", str(tmp_path / "out"),
                           *TINY)
    assert code == 0, err
    assert pd.read_parquet(tmp_path / "out")["n_samples"].tolist() == [300]


def test_divergence_writes_the_rows_then_exits_1(capsys, tmp_path):
    code, out, err = run_cli(capsys, "run", "--model", "siren", "--model", "siren2:S0=1e30",
                             "--task", "audio:arch", "--max-samples", "512", "--seeds", "0",
                             "--out", str(tmp_path), *TINY)
    assert code == 1
    assert "1 of 2 members diverged" in one_line_error(err) and "lower --lr or the noise scale" in err
    frame = pd.read_parquet(tmp_path).set_index("model")
    assert frame.loc["siren", "status"] == "ok" and frame.loc["siren2", "status"] == "diverged"
    assert frame.loc["siren2", "diverged_step"] == 0
    code, out, err = run_cli(capsys, "table", str(tmp_path))
    assert code == 0 and "1 diverged" in err and "siren2" not in out


def test_minibatch_flags_reach_the_trainer(tmp_path, capsys):
    code = main(["run", "--model", "siren", "--task", "audio:arch", "--max-samples", "1024", "--batch-size", "256",
                 "--eval-every", "4", "--steps", "10", "--width", "16", "--layers", "2", "--seeds", "0",
                 "--device", "cpu", "--out", str(tmp_path), "--no-progress"])
    assert code == 0, capsys.readouterr().err
    row = pd.read_parquet(tmp_path).iloc[0]
    assert row["batch_size"] == 256 and row["samples_per_s"] == pytest.approx(row["steps_per_s"] * 256)
    assert list(row["curve_steps"]) == [0, 4, 8, 10]  # full-signal evaluations every 4 steps, and the end


def test_baselines_in_a_sweep_get_their_own_ensembles(tmp_path, capsys):
    import pandas as pd

    code = main(["run", "--model", "siren", "--model", "wire", "--model", "finer", "--task", "audio:arch",
                 "--max-samples", "256", "--width", "16", "--layers", "2", "--steps", "5", "--seeds", "0-1",
                 "--device", "cpu", "--out", str(tmp_path), "--no-progress", "--max-members", "16"])  # no timing decides
    assert code == 0, capsys.readouterr().err
    rows = pd.read_parquet(tmp_path)
    assert rows.groupby("model")["ensemble_size"].first().to_dict() == {"finer": 2, "siren": 2, "wire": 2}
    assert rows.groupby("model")["n_params"].first()["wire"] == 2 * 11 + 2 * (11 * 11 + 11) + 2 * 12
