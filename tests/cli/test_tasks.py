"""bench run on the inpainting, super-resolution, Poisson and denoising tasks: their columns, their reports and
their usage errors."""

from __future__ import annotations

import pytest

from bench.cli import main
from bench.experiment.store import read_results


@pytest.mark.parametrize("task, options, masks_run, metric", [
    ("inpaint-audio:relay", ["--max-samples", "2048", "--gaps", "4", "--gap-length", "64"],
     (["--mask-seed", "0"], ["--mask-seed", "1"]), "snr_db"),
    ("inpaint-image:camera", ["--side", "24"], (["--stride", "2"], ["--stride", "3"]), "psnr_db"),
])
def test_a_cli_run_writes_both_columns_and_the_report_sets_them_side_by_side(tmp_path, need, task, options,
                                                                              masks_run, metric):
    need(task.partition(":")[2])
    out = tmp_path / "runs"
    for mask in masks_run:
        assert main(["run", "--task", task, *options, *mask, "--model", "siren", "--model", "winner",
                     "--seeds", "0-1", "--width", "16", "--layers", "2", "--steps", "20", "--device", "cpu",
                     "--max-members", "4", "--compile", "off", "--no-progress", "--out", str(out)]) == 0
    rows = read_results(out)
    for column in (metric, f"fit_{metric}", f"whole_{metric}", f"best_{metric}", f"best_fit_{metric}"):
        assert rows[column].notna().all(), column
    for _, row in rows.iterrows():  # the held-out curve beside the fit curve, ending at the final value
        assert len(row[f"curve_{metric}"]) == len(row[f"curve_fit_{metric}"]) == len(row["curve_steps"])
        assert row[f"curve_{metric}"][-1] == pytest.approx(row[metric], abs=1e-4)
    assert rows["cell_key"].nunique() == 8  # the mask's settings are part of the key
    # every member of one mask trained on the same points, and the two masks differ
    per_mask = rows.fillna({"mask_seed": -1}).groupby(["mask", "mask_seed"])["mask_digest"]
    assert per_mask.ngroups == 2 and per_mask.nunique().eq(1).all() and rows["mask_digest"].nunique() == 2
    report = tmp_path / "report"
    assert main(["report", str(out), "--out", str(report)]) == 0
    text = (report / "README.md").read_text()
    assert "Fit and held-out side by side" in text and (report / f"{metric}_fit_vs_held_out.png").is_file()
    interpolation = rows.groupby("mask")[f"interp_{metric}"].agg(["min", "max"])
    assert (interpolation["min"] == interpolation["max"]).all()  # one value per mask
    table = (report / f"held_out_{metric}.md").read_text()
    assert "linear interpolation" in table and "every point" in table and all(f"| {value:.2f} |" in table.replace("  ", " ")
                                                   or f" {value:.2f} |" in table for value in interpolation["min"])
    assert (report / f"held_out_{metric}.md").read_text().count("winner") == 2  # one row per mask


def test_mask_options_that_do_not_go_together_are_usage_errors(need, capsys):
    need("camera")
    code = main(["run", "--task", "inpaint-image:camera", "--side", "16", "--stride", "2", "--mask-seed", "1",
                 "--steps", "1", "--device", "cpu", "--out", "/nonexistent/never-written"])
    assert code == 2 and "--mask-seed applies to random masks" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--task", "poisson-grad:arch"], "signal 'arch' is audio, not image"),
    (["--task", "denoise-image:camera", "--noise-std", "-0.1"], "--noise-std must be >= 0"),
    (["--task", "denoise-audio:arch", "--noise-snr", "nan"], "--noise-snr must be a finite number"),
    (["--task", "poisson-lapl:camera", "--max-samples", "10"], "--max-samples does not apply to task poisson-lapl"),
])
def test_bad_task_input_is_a_usage_error(capsys, tmp_path, args, message):
    code = main(["run", "--out", str(tmp_path), "--device", "cpu", "--steps", "2", *args])
    assert code == 2 and message in capsys.readouterr().err


def test_poisson_and_denoise_runs_record_their_columns(capsys, tmp_path):
    import pandas as pd

    for task, extra in (("poisson-lapl:camera", "lapl_mse"), ("denoise-audio:arch", "noisy_snr_db")):
        options = ["--side", "16"] if task.startswith("poisson") else ["--max-samples", "512"]
        code = main(["run", "--model", "siren", "--task", task, *options, "--width", "16", "--layers", "2",
                     "--steps", "5", "--seeds", "0", "--device", "cpu", "--out", str(tmp_path / task), "--no-progress"])
        assert code == 0, capsys.readouterr().err
        row = pd.read_parquet(tmp_path / task).iloc[0]
        assert row[extra] == row[extra] and row["status"] == "ok"
