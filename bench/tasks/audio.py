"""Audio fitting: t in linspace(-1, 1) -> mono amplitude scaled by max|x|; metric SNR in dB."""

from __future__ import annotations

import numpy as np
import soundfile as sf
import torch

from bench.errors import BenchError, UsageError
from bench.metrics import snr_db, spectral_centroid
from bench.models import SignalInfo
from bench.signals import SignalLibrary, is_synthetic, synthetic
from bench.tasks import Task, register_task

SYNTHETIC_RATE = 16000  # nominal sample rate (Hz) recorded for synthetic clips
SYNTHETIC_LENGTH = 16384  # samples of a synthetic clip (before --max-samples)


def read_mono(path) -> tuple[np.ndarray, int]:
    """Samples [n] (float64, channels averaged) and the sample rate of an audio file."""
    try:
        data, rate = sf.read(str(path), dtype="float64", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise BenchError(f"cannot read audio file {path}: {exc}; give a WAV/FLAC/OGG file soundfile can open") from None
    return data.mean(axis=1), rate


def load_clip(library: SignalLibrary, ref: str, max_samples: int | None) -> tuple[np.ndarray, int]:
    """The clip ``ref`` as mono samples [n] divided by max|x| (first max_samples), and its sample rate."""
    if max_samples is not None and max_samples < 1:
        raise UsageError(f"--max-samples must be a positive integer, got {max_samples}")
    if is_synthetic(ref):
        samples, rate = synthetic(ref, (SYNTHETIC_LENGTH,)), SYNTHETIC_RATE
    else:
        samples, rate = read_mono(library.path(ref, "audio"))
    samples = samples[:max_samples]
    if samples.size == 0:
        raise BenchError(f"audio signal {ref!r} is empty; give a clip with samples")
    peak = np.abs(samples).max()
    if not np.isfinite(peak) or peak == 0:
        raise BenchError(f"audio signal {ref!r} is silent or not finite (max|x| = {peak}); nothing to fit")
    return samples / peak, rate


def clip_task(name: str, ref: str, samples: np.ndarray, rate: int) -> Task:
    """Fitting ``samples`` [n] on t = linspace(-1, 1, n), scored by SNR in dB."""
    target = torch.from_numpy(samples).float()[:, None]
    coords = torch.linspace(-1, 1, len(samples))[:, None]
    power = float(target.double().square().mean())
    info = SignalInfo("audio", d_in=1, d_out=1, centroid=spectral_centroid(target.numpy()))
    return Task(name, ref, coords, target, info, "snr_db", lambda mse: snr_db(mse, power),
                {"sample_rate": rate, "n_samples": len(samples), "centroid": info.centroid})


@register_task(domain="audio", help={"max_samples": "keep the first N samples (default: the whole clip)"})
def audio(library: SignalLibrary, ref: str, max_samples: int | None = None) -> Task:
    """Fit a clip: mono mixdown, divided by max|x|, first max_samples samples (all when unset)."""
    return clip_task("audio", ref, *load_clip(library, ref, max_samples))
