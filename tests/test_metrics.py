"""SSIM, log-spectral distance and SI-SNR against known answers and independent computations, on real
signals, and as result columns of a run."""

import math
import numpy as np
import pandas as pd
import pytest
import scipy.ndimage
import scipy.signal
import torch

from bench.cli import main
from bench.core.metrics import lsd_db, si_snr_db, ssim
from bench.report.tables import cell_table, render_table


def gray(camera_32) -> torch.Tensor:
    return ((camera_32.target.reshape(32, 32, -1) + 1) / 2)[..., :1].double()


def ssim_reference(x: np.ndarray, y: np.ndarray) -> float:
    """Wang et al. 2004 with scipy: Gaussian-weighted means and (co)variances (sigma 1.5, 11 x 11 taps,
    the image mirrored beyond its border), averaged over all pixels, data range 1."""
    c1, c2 = 0.01**2, 0.03**2
    blur = lambda a: scipy.ndimage.gaussian_filter(a, 1.5, truncate=3.5, mode="mirror")  # noqa: E731
    mx, my = blur(x), blur(y)
    vx, vy, cov = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    full = (2 * mx * my + c1) * (2 * cov + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return float(full.mean())


def test_ssim_of_an_image_with_itself_is_one_and_matches_an_independent_computation(camera_32):
    image = gray(camera_32)
    noisy = (image + 0.1 * torch.randn(image.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
    noisy = noisy.clamp(0, 1)
    values = ssim(torch.stack([image, noisy, 1 - image]), image)
    assert values[0].item() == pytest.approx(1.0, abs=1e-6)
    assert values[1].item() == pytest.approx(ssim_reference(noisy[..., 0].numpy(), image[..., 0].numpy()), abs=1e-3)
    assert values[2].item() < 0  # the negative is anti-correlated everywhere


def test_lsd_is_zero_for_the_signal_itself_and_10_log10_4_for_twice_it(relay_2k):
    clip = relay_2k.target[:, 0]
    values = lsd_db(torch.stack([clip, 2 * clip]), clip)
    assert values[0].item() == pytest.approx(0.0, abs=1e-9)
    assert values[1].item() == pytest.approx(10 * np.log10(4), rel=0.01)  # eps pulls the quietest bins together


def test_lsd_matches_a_scipy_stft_computation(relay_2k):
    clip = relay_2k.target[:, 0].double()
    noisy = clip + 0.05 * torch.randn(clip.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    n_fft = 2048  # relay_2k has 2,048 samples
    _, _, a = scipy.signal.stft(clip.numpy(), window="hann", nperseg=n_fft, noverlap=n_fft - n_fft // 4,
                                boundary="even", padded=False, scaling="psd")
    _, _, b = scipy.signal.stft(noisy.numpy(), window="hann", nperseg=n_fft, noverlap=n_fft - n_fft // 4,
                                boundary="even", padded=False, scaling="psd")
    # scaling cancels in the ratio up to eps; 'even' extension = torch.stft's reflect padding by n_fft // 2
    ratio = 10 * np.log10((np.abs(a) ** 2 + 1e-20) / (np.abs(b) ** 2 + 1e-20))
    expected = np.sqrt((ratio**2).mean(axis=0)).mean()
    assert lsd_db(noisy[None], clip).item() == pytest.approx(expected, rel=0.05)


def test_si_snr_ignores_scale_and_matches_its_definition(relay_2k):
    clip = relay_2k.target[:, 0].double()
    noise = torch.randn(clip.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    pred = clip + 0.3 * noise
    s, p = (clip - clip.mean()).numpy(), (pred - pred.mean()).numpy()
    target = (p @ s) / (s @ s) * s
    expected = 10 * np.log10((target @ target) / ((p - target) @ (p - target)))
    values = si_snr_db(torch.stack([pred, 0.01 * pred, 50 * pred]), clip)
    assert values[0].item() == pytest.approx(expected, abs=1e-3)
    assert values[1].item() == pytest.approx(expected, abs=1e-3) and values[2].item() == pytest.approx(expected, abs=1e-3)


def test_lsd_tables_bold_the_lowest_mean():
    rows = pd.DataFrame({"signal": ["a"] * 4, "model_spec": ["siren", "siren", "winner", "winner"],
                         "seed": [0, 1, 0, 1], "lsd": [3.0, 3.2, 1.0, 1.1]})
    table = render_table(cell_table(rows, "lsd"), "markdown", "lsd")
    assert "**1.05 ± 0.07**" in table and "**3.10" not in table


def test_runs_record_the_new_metric_columns(tmp_path, need):
    need("relay", "camera")
    for task, option, columns in (("audio:relay", ["--max-samples", "1024"], ["si_snr_db", "lsd"]),
                                  ("image:camera", ["--side", "24"], ["ssim"])):
        out = tmp_path / task.split(":")[0]
        assert main(["run", "--model", "siren", "--task", task, *option, "--width", "16", "--layers", "2",
                     "--steps", "5", "--seeds", "0", "--out", str(out), "--no-progress"]) == 0
        rows = pd.concat(pd.read_parquet(p) for p in out.glob("*.parquet"))
        for column in columns:
            assert rows[column].notna().all()


def test_best_step_metrics_are_those_of_the_weights_at_the_best_step(camera_32):
    from bench.models import Architecture, MemberSpec, build_ensemble, parse_model
    from bench.training import TrainConfig, train

    def ensemble():
        specs = [MemberSpec(parse_model("siren"), seed) for seed in (0, 1)]
        return build_ensemble(specs, Architecture.of(camera_32.info, 32, 2), camera_32.info)[0]

    lr = 2e-2  # large enough that the PSNR oscillates, so that a member's best step is not its last
    members = train(ensemble(), camera_32, TrainConfig(steps=40, lr=lr), progress=False).members
    k, member = next((k, m) for k, m in enumerate(members) if 0 < m.best_step < 40 and m.best > m.final)
    again = train(ensemble(), camera_32, TrainConfig(steps=member.best_step, lr=lr), progress=False).members[k]
    assert again.final == pytest.approx(member.best, abs=1e-4)
    assert member.best_extra["ssim"] == pytest.approx(again.extra["ssim"], abs=1e-6)
    assert member.best_extra["ssim"] != pytest.approx(member.extra["ssim"], abs=1e-4)


def test_steps_to_a_level_is_the_first_curve_point_at_or_past_it():
    from bench.core.metrics import steps_to_level

    steps, curve = [10, 20, 30, 40], [5.0, 19.9, 20.0, 35.0]
    assert steps_to_level(steps, curve, 20.0) == 30 and steps_to_level(steps, curve, 35.0) == 40
    assert np.isnan(steps_to_level(steps, curve, 40.0))  # never reached
    assert np.isnan(steps_to_level([10, 20], [float("nan"), float("nan")], 0.0))  # diverged
    assert steps_to_level(steps, [9.0, 4.0, 1.0, 0.5], 1.0, higher_is_better=False) == 30


def test_runs_record_steps_to_each_level_and_reports_compute_them_for_older_rows(tmp_path, capsys, need):
    """The columns a run writes equal what its own curve gives; rows stored without them get them on read."""
    need("arch")
    out = tmp_path / "run"
    assert main(["run", "--model", "siren", "--task", "audio:arch", "--max-samples", "1024", "--width", "64",
                 "--layers", "2", "--steps", "200", "--lr", "1e-3", "--seeds", "0", "--device", "cpu",
                 "--out", str(out), "--no-progress"]) == 0
    row = pd.read_parquet(out).iloc[0]
    curve = np.asarray(row["curve_snr_db"])
    reached = [step for step, value in zip(row["curve_steps"], curve) if value >= 20]
    assert row["snr_db"] > 20 and row["steps_to_20_snr_db"] == reached[0]
    assert row["seconds_to_20_snr_db"] == pytest.approx(reached[0] * row["seconds"] / 200)
    assert np.isnan(row["steps_to_40_snr_db"]) == (curve.max() < 40)
    older = tmp_path / "older"
    older.mkdir()
    pd.read_parquet(out).drop(columns=[c for c in row.index if "_to_" in c]).to_parquet(older / "results.parquet")
    capsys.readouterr()
    assert main(["table", str(older), "--metric", "steps_to_20_snr_db"]) == 0
    assert f"| **{int(reached[0])}** " in capsys.readouterr().out


def test_steps_to_levels_of_held_out_curves_and_of_merged_files_without_curves(tmp_path, capsys, need):
    need("arch")
    out = tmp_path / "inpaint"
    assert main(["run", "--model", "siren", "--task", "inpaint-audio:arch", "--max-samples", "512", "--width", "16",
                 "--layers", "1", "--steps", "20", "--seeds", "0", "--device", "cpu", "--out", str(out),
                 "--no-progress"]) == 0
    row = pd.read_parquet(out).iloc[0]
    assert "steps_to_20_snr_db" in row.index  # the held-out snr_db's levels, from its own curve
    merged = tmp_path / "merged"
    merged.mkdir()
    rows = pd.read_parquet(out)
    old = "20250101T000000-aaaaaa"  # two files of an older version (named by the run id they hold), one without curves
    rows.assign(run_id=old).to_parquet(merged / f"{old}.parquet")
    rows.drop(columns=[c for c in rows.columns if c.startswith("curve_") or "_to_" in c]).assign(
        cell_key="0123456789abcdef", seed=1, run_id=old[:-1] + "b").to_parquet(merged / f"{old[:-1]}b.parquet")
    capsys.readouterr()
    assert main(["table", str(merged), "--metric", "snr_db"]) == 0


@pytest.mark.parametrize("declaration, problem", [
    ('Metric("width", "width (px)")', "'width' cannot be a metric column: every result row has the setting column "
                                      "'width', which it would overwrite; give the metric another name"),
    ('Metric("seed", "seed")', "'seed' cannot be a metric column: every result row has the identity column 'seed'"),
    ('Metric("status", "status")', "'status' cannot be a metric column: every result row has the outcome column"),
    ('Metric("crispness", "crispness", digits=-1)', "metric 'crispness': digits must be a whole number of decimals "
                                                    "from 0 to 12, got -1"),
])
def test_a_plugin_metric_named_like_a_column_or_with_no_count_of_decimals_is_one_usage_error(
        tmp_path, capsys, declaration, problem):
    from bench.core.metrics import METRICS

    plugin = tmp_path / "scores.py"
    plugin.write_text(f"from bench.core.metrics import Metric, declare_metric\n\ndeclare_metric({declaration})\n")
    assert main(["--plugin", str(plugin), "list", "models"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"bench: error: plugin {plugin}: {problem}"), line
    assert {"width", "seed", "status", "crispness"}.isdisjoint(METRICS)  # nothing declared: no column overwritten


def test_an_exact_fit_reaches_every_level_at_its_first_step():
    from bench.core.metrics import steps_to_level

    assert steps_to_level([0, 10], [math.inf, math.inf], 40.0) == 0.0
    assert math.isnan(steps_to_level([0, 10], [-math.inf, math.nan], 20.0))  # a diverged curve never does
