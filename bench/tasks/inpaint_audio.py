"""Audio inpainting and super-resolution: train on part of a clip (a random subset, every K-th sample, or
the clip less contiguous gaps) and score SNR on the samples left out; ``fit_snr_db`` on those kept, and
``interp_snr_db`` of linear interpolation between the kept samples as a reference."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from bench.core.errors import BenchError
from bench.signals.masks import kept_samples, without_default_mask
from bench.core.metrics import mean_square, snr_db
from bench.core.registry import NonNegativeInt, PositiveInt, Seed32
from bench.signals.library import SignalLibrary
from bench.tasks import Task, held_out_task, register_task
from bench.tasks.audio import CLIP_HELP, clip_task, load_clip, samples_used

MASK_HELP = {
    "keep": "fraction of the points trained on, a random subset drawn with --mask-seed (default 0.5)",
    "stride": "train on every K-th point instead (images: every K-th row and column): super-resolution by K",
    "mask_seed": "seed of the random subset or of the gap positions; the same for every member (default 0)",
}


def snr_against(reference):
    """SNR in dB as a function of the MSE, against the power of ``reference`` [n, 1] (the points scored)."""
    power = float(mean_square(reference))
    return lambda mse: snr_db(mse, power)


def _as_fitted(library: SignalLibrary, ref: str, options: dict) -> dict:
    """The options as they act: the samples used, and no spelled-out default mask."""
    return samples_used(library, ref, without_default_mask(options))


@register_task(name="inpaint-audio", domain="audio", help={
    **CLIP_HELP, **MASK_HELP,
    "gaps": "train on the clip less N contiguous gaps of --gap-length samples at random places instead",
    "gap_length": "samples per gap, with --gaps"},
    effective=_as_fitted)
def inpaint_audio(library: SignalLibrary, ref: str, max_samples: PositiveInt | None = None,
                  keep: float | None = None, stride: int | None = None, gaps: int | None = None,
                  gap_length: int | None = None, mask_seed: Seed32 | None = None,
                  channel: NonNegativeInt | None = None, offset: NonNegativeInt | None = None) -> Task:
    """Fit a clip on some of its samples, SNR on the others (audio's loading, then the mask)."""
    whole = clip_task("inpaint-audio", ref, *load_clip(library, ref, max_samples, channel, offset))
    kept, settings = kept_samples(whole.size, keep, stride, mask_seed, gaps, gap_length)
    task = held_out_task(whole, kept, snr_against, settings)
    held_power, fit_power = float(mean_square(whole.target[task.held_out.index])), float(mean_square(task.target))
    if held_power == 0 or fit_power == 0:
        part = "held-out" if held_power == 0 else "kept"
        raise BenchError(f"the {part} samples of {ref!r} ({settings['mask']}) are all silent, so its SNR is "
                         f"undefined; use another --mask-seed, mask or --max-samples")
    samples = whole.target[:, 0].double().numpy()
    interpolated = np.interp(task.held_out.index.numpy(), kept, samples[kept])[:, None]  # ends: nearest kept
    return replace(task, meta=task.meta | {"signal_power": held_power, "fit_signal_power": fit_power,
                                           "interp_snr_db": task.held_out.interpolated(interpolated)})
