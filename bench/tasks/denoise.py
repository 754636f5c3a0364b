"""Denoising: fit a noisy copy of a clip or image (seeded Gaussian noise) and score against the clean one.

Training and the init see only the noisy target (WINNER's centroid included); the clean signal is used
for the metric alone, at every full-batch step (for the best step, i.e. ideal early stopping) and at the end.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import torch

from bench.core.errors import UsageError
from bench.core.metrics import mean_square, snr_db
from bench.core.registry import NonNegativeInt, PositiveInt, Seed32
from bench.signals.library import SignalLibrary
from bench.tasks import Task, register_task
from bench.tasks.audio import CLIP_HELP, clip_task, load_clip, samples_used
from bench.tasks.image import image_task, load_image

NOISE_SNR_LIMIT_DB = 200.0  # noise 10^10 times weaker or stronger than the signal, in amplitude


def _noisy(noisy_task: Task, clean: np.ndarray, metric_from_mse, noise: dict) -> Task:
    """The task built on the noisy values, scored against the clean values instead, with the noise settings
    and the noisy signal's own metric as columns."""
    clean_target = torch.from_numpy(clean.reshape(noisy_task.target.shape)).float()
    noisy_metric = float(metric_from_mse(mean_square(noisy_task.target - clean_target)))
    return replace(noisy_task, reference=clean_target, metric_from_mse=metric_from_mse,
                   meta=noisy_task.meta | noise | {f"noisy_{noisy_task.metric}": noisy_metric})


@register_task(name="denoise-audio", domain="audio", effective=samples_used,
               help={**{k: v for k, v in CLIP_HELP.items() if k != "offset"}, "noise_snr": "SNR of the added noise in dB (default 10)",
                     "noise_seed": "seed of the added noise (default 0)"})
def denoise_audio(library: SignalLibrary, ref: str, max_samples: PositiveInt | None = None, noise_snr: float = 10.0,
                  noise_seed: Seed32 = 0, channel: NonNegativeInt | None = None) -> Task:
    """Fit a clip plus Gaussian noise at noise_snr dB; SNR against the clean clip."""
    if not -NOISE_SNR_LIMIT_DB <= noise_snr <= NOISE_SNR_LIMIT_DB:  # beyond, the noise's std under/overflows
        raise UsageError(f"--noise-snr must be a number of dB within ±{NOISE_SNR_LIMIT_DB:g}, got {noise_snr}")
    clean, rate = load_clip(library, ref, max_samples, channel)
    power = float(np.mean(clean**2))
    noise = np.random.default_rng(noise_seed).normal(0.0, math.sqrt(power / 10 ** (noise_snr / 10)), clean.shape)
    return _noisy(clip_task("denoise-audio", ref, clean + noise, rate), clean, lambda mse: snr_db(mse, power),
                  {"noise_snr": noise_snr, "noise_seed": noise_seed, "signal_power": power})


@register_task(name="denoise-image", domain="image",
               help={"noise_std": "std of the added noise on the [0, 1] pixel scale (default 0.1)"})
def denoise_image(library: SignalLibrary, ref: str, side: PositiveInt | None = None, noise_std: float = 0.1,
                  noise_seed: Seed32 = 0) -> Task:
    """Fit an image plus Gaussian noise of std noise_std (pixel range [0, 1]); PSNR against the clean image."""
    if not noise_std >= 0:
        raise UsageError(f"--noise-std must be >= 0 (on the [0, 1] pixel scale), got {noise_std}")
    clean = load_image(library, ref, side)
    noisy = clean + np.random.default_rng(noise_seed).normal(0.0, 2 * noise_std, clean.shape)  # [-1, 1] = 2 x [0, 1]
    task = image_task("denoise-image", ref, noisy)
    return _noisy(task, clean, task.metric_from_mse, {"noise_std": noise_std, "noise_seed": noise_seed})
