"""Metrics (bench.core.metrics): SSIM, log-spectral distance, SI-SNR, spectral centroids and steps to a level,
against known answers and independent computations on real signals."""

import math

import numpy as np
import pytest
import scipy.ndimage
import scipy.signal
import torch

from bench.core.metrics import lsd_db, psnr_db, si_snr_db, snr_db, spectral_centroid, ssim
from bench.tasks import load_task


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


def test_steps_to_a_level_is_the_first_curve_point_at_or_past_it():
    from bench.core.metrics import steps_to_level

    steps, curve = [10, 20, 30, 40], [5.0, 19.9, 20.0, 35.0]
    assert steps_to_level(steps, curve, 20.0) == 30 and steps_to_level(steps, curve, 35.0) == 40
    assert np.isnan(steps_to_level(steps, curve, 40.0))  # never reached
    assert np.isnan(steps_to_level([10, 20], [float("nan"), float("nan")], 0.0))  # diverged
    assert steps_to_level(steps, [9.0, 4.0, 1.0, 0.5], 1.0, higher_is_better=False) == 30


def test_an_exact_fit_reaches_every_level_at_its_first_step():
    from bench.core.metrics import steps_to_level

    assert steps_to_level([0, 10], [math.inf, math.inf], 40.0) == 0.0
    assert math.isnan(steps_to_level([0, 10], [-math.inf, math.nan], 20.0))  # a diverged curve never does


def test_spectral_centroid_of_a_pure_tone():
    n, k = 1024, 100
    tone = np.sin(2 * np.pi * k * np.arange(n) / n)[:, None]
    assert spectral_centroid(tone) == pytest.approx(2 * k / n, rel=1e-6)
    stereo = np.concatenate([tone, tone], axis=1)  # methods.md: psi = 2 mean_c(centroid_c) / C
    assert spectral_centroid(stereo) == pytest.approx(k / n, rel=1e-6)


def test_image_centroid_runs_over_the_raster_flattened_pixels(library):
    """docs/methods.md (as the official SIREN² code): one rfft over the H*W pixels in row-major order, not
    one per row. Rows that are each constant have no energy along a row, yet the raster varies."""
    side, k = 32, 5
    image = np.repeat(np.sin(2 * np.pi * k * np.arange(side) / side)[:, None], side, axis=1)  # [H, W], constant rows
    flat = image.reshape(-1)
    magnitude = np.abs(np.fft.rfft(flat))
    expected = 2 * (magnitude * np.fft.rfftfreq(flat.size)).sum() / magnitude.sum()
    assert spectral_centroid(flat[:, None]) == pytest.approx(expected, rel=1e-9) and expected > 0.001
    camera = load_task("image:camera", library, {"side": 64})
    values = (camera.target.double().numpy() * 1.0)[:, 0]
    magnitude = np.abs(np.fft.rfft(values))
    assert camera.info.centroid == pytest.approx(2 * (magnitude * np.fft.rfftfreq(values.size)).sum() / magnitude.sum(),
                                                 rel=1e-5)


def test_metrics_in_db():
    assert snr_db(torch.tensor(0.01), 1.0).item() == pytest.approx(20.0)
    assert psnr_db(torch.tensor(0.04), 2.0).item() == pytest.approx(20.0)
