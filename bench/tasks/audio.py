"""Audio fitting: t in linspace(-1, 1) -> mono amplitude divided by the clip's max|x|; metric SNR in dB."""

from __future__ import annotations

import re
import sys
import warnings
from typing import Any

import numpy as np
import soundfile as sf
import torch
from torch import Tensor

from bench.core.errors import BenchError, BenchWarning, UsageError
from bench.core.metrics import lsd_db, mean_square, si_snr_db, snr_db, spectral_centroid
from bench.signals.info import SignalInfo
from bench.core.registry import NonNegativeInt, PositiveInt
from bench.signals.library import SignalLibrary, is_band, is_synthetic, synthetic
from bench.tasks import Task, register_task

SYNTHETIC_RATE = 16000  # nominal sample rate (Hz) recorded for synthetic clips
SYNTHETIC_LENGTH = 16384  # samples of a synthetic clip (before --max-samples)


# libsndfile reads a truncated file without complaint and only notes, in its log, a data chunk whose
# declared size exceeds what the file holds ("data : 8192 (should be 16)"); soundfile exposes no other
# way to the declared size. 0 and 0xFFFFFFFF are the "length unknown" sizes of streamed WAVs.
_SHORT_DATA_CHUNK = re.compile(r"^\s*(?:data|SSND)\s*:\s*(\d+) \(should be (\d+)\)", re.MULTILINE)
_UNKNOWN_LENGTHS = (0, 0xFFFFFFFF)
# A mono mix's power over the channels' mean power is 1 for equal channels and 1/N for N unrelated ones: under
# half of that they partly cancel (a warning); under CANCELLED they cancel but for rounding (an error; inverted
# 16-bit channels keep about 1e-9).
MIX_POWER_WARNING = 0.5
CANCELLED = 1e-6


def read_mono(path, channel: int | None = None) -> tuple[np.ndarray, int]:
    """Samples [n] (float64: the mean of the channels, or the one ``channel`` named) and the sample rate of
    an audio file. A file shorter than its header declares is an error, not a shorter clip; channels that
    cancel in the mix are an error, and a mix that keeps under half the power unrelated channels keep a warning."""
    try:
        log = sf.info(str(path)).extra_info
        data, rate = sf.read(str(path), dtype="float64", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise BenchError(f"cannot read audio file {path}: {exc}; give a WAV/FLAC/OGG file soundfile can open") from None
    for declared, present in ((int(a), int(b)) for a, b in _SHORT_DATA_CHUNK.findall(log)):
        if declared > present and declared not in _UNKNOWN_LENGTHS:
            raise BenchError(f"audio file {path} is truncated: its header declares {declared:,} bytes of samples but "
                             f"the file holds {present:,}; give the complete file")
    channels = data.shape[1]
    if channel is not None:
        if channel >= channels:
            raise UsageError(f"--channel {channel}: audio file {path} has {channels} channel(s), numbered "
                             f"0-{channels - 1}")
        return data[:, channel], rate
    mono = data.mean(axis=1)
    if channels > 1 and data.any():
        kept = float(np.mean(mono**2) / np.mean(data**2))  # 1: equal channels, 1/N: unrelated ones, 0: cancelling
        pick = f"pick one channel with --channel N (0-{channels - 1})"
        if kept < CANCELLED:
            raise BenchError(f"the {channels} channels of audio file {path} cancel in the mono mix (it keeps "
                             f"{kept:.1e} of their power: rounding, where they are not silent); {pick}")
        if kept < MIX_POWER_WARNING / channels:
            warnings.warn(f"the mono mix of audio file {path} keeps {kept:.1%} of its channels' power (they nearly "
                          f"cancel), and is then scaled to max|x| = 1; {pick} to fit a channel instead",
                          BenchWarning, stacklevel=2)
    return mono, rate


def load_clip(library: SignalLibrary, ref: str, max_samples: int | None,
              channel: int | None = None, offset: int | None = None) -> tuple[np.ndarray, int]:
    """The clip ``ref`` as mono samples [n] divided by the whole clip's max|x|, then cut to max_samples from
    sample ``offset`` (default 0; this order is the official SIREN² code's: a slice keeps its level relative
    to the clip), and its sample rate."""
    if max_samples is not None and max_samples < 1:
        raise UsageError(f"--max-samples must be a positive integer, got {max_samples}")
    if is_synthetic(ref):
        if offset and is_band(ref):
            raise UsageError(f"--offset: band noise {ref} is made at the length fitted; leave --offset out")
        if channel:
            raise UsageError(f"--channel {channel}: the synthetic clip {ref} has one channel, numbered 0")
        length = (max_samples or SYNTHETIC_LENGTH) if is_band(ref) else SYNTHETIC_LENGTH  # band noise: as fitted
        samples, rate = np.array(synthetic(ref, (length,))), SYNTHETIC_RATE
    else:
        samples, rate = read_mono(library.path(ref, "audio"), channel)
    if samples.size == 0:
        raise BenchError(f"audio signal {ref!r} is empty; give a clip with samples")
    if not np.isfinite(samples).all():
        raise BenchError(f"audio signal {ref!r} holds NaN or infinite samples; give a clip of finite samples")
    peak = np.abs(samples).max()
    if peak == 0:
        raise BenchError(f"audio signal {ref!r} is silent (max|x| = 0); nothing to fit")
    start = offset or 0
    if start >= samples.size:
        raise UsageError(f"--offset {start} is past the end of audio signal {ref!r} ({samples.size:,} samples); "
                         f"give an offset below {samples.size:,}")
    samples = samples[start:start + max_samples if max_samples else None] / peak
    if not samples.any():
        which = f"{len(samples):,} samples from sample {start:,}" if start else f"first {len(samples):,} samples"
        raise BenchError(f"the {which} of audio signal {ref!r} are silent; "
                         f"raise --max-samples, move --offset or give another clip")
    return samples, rate


def clip_shape(library: SignalLibrary, ref: str) -> tuple[int, int]:
    """Samples and channels of clip ``ref`` without reading its samples: a synthetic clip's, the
    manifest's ``frames`` and ``channels``, or a file's header."""
    if is_synthetic(ref):
        return (sys.maxsize if is_band(ref) else SYNTHETIC_LENGTH), 1  # band noise: any length asked for
    entry = library.entries.get(ref)
    if entry is not None and {"frames", "channels"} <= set(entry.details):
        return int(entry.details["frames"]), int(entry.details["channels"])
    try:
        info = sf.info(str(library.path(ref, "audio")))
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise BenchError(f"cannot read audio file {ref}: {exc}; give a WAV/FLAC/OGG file soundfile can open") from None
    return info.frames, info.channels


def samples_used(library: SignalLibrary, ref: str, options: dict[str, Any]) -> dict[str, Any]:
    """The options of a clip task as they act on clip ``ref``: ``max_samples`` as the number of samples
    actually fitted (the clip's length when unset or beyond it), and ``channel`` 0 of a mono clip left
    out (it is the clip itself), so that one run asked for in any of these ways is one cell. An invalid
    value, or an empty clip, stays as given, for the task to refuse."""
    if is_band(ref):  # generated at the length asked for
        options = options | {"max_samples": options.get("max_samples") or SYNTHETIC_LENGTH}
    length, channels = clip_shape(library, ref)
    if channels == 1 and options.get("channel") == 0 and type(options["channel"]) is int:
        options = {key: value for key, value in options.items() if key != "channel"}
    if options.get("offset") == 0 and type(options["offset"]) is int:  # the start: the same as no offset
        options = {key: value for key, value in options.items() if key != "offset"}
    asked, start = options.get("max_samples"), options.get("offset") or 0
    if ((asked is not None and (not isinstance(asked, int) or asked < 1)) or not isinstance(start, int)
            or length <= start):
        return options
    return options | {"max_samples": length - start if asked is None else min(asked, length - start)}


def audio_quality(out: Tensor, reference: Tensor) -> dict[str, Tensor]:
    """SI-SNR and log-spectral distance [K] of clips out [K, N, 1] against reference [N, 1]."""
    return {"si_snr_db": si_snr_db(out[..., 0], reference[:, 0]), "lsd": lsd_db(out[..., 0], reference[:, 0])}


def clip_task(name: str, ref: str, samples: np.ndarray, rate: int) -> Task:
    """Fitting ``samples`` [n] on t = linspace(-1, 1, n), scored by SNR in dB."""
    target = torch.from_numpy(samples).float()[:, None]
    coords = torch.linspace(-1, 1, len(samples))[:, None]
    power = float(mean_square(target))
    info = SignalInfo("audio", d_in=1, d_out=1, centroid=spectral_centroid(target.numpy()), source=ref)
    return Task(name, ref, coords, target, target, info, "snr_db", lambda mse: snr_db(mse, power),
                {"sample_rate": rate, "n_samples": len(samples), "centroid": info.centroid, "signal_power": power},
                quality=audio_quality, quality_metrics=("si_snr_db", "lsd"), grid=(len(samples),))


CLIP_HELP = {"max_samples": "keep N samples, from the first or from --offset (default: the whole clip)",
             "channel": "fit channel N (from 0) instead of the mean of the channels",
             "offset": "start at sample N (default 0): with --max-samples, a window of the clip"}


@register_task(domain="audio", help=CLIP_HELP, effective=samples_used)
def audio(library: SignalLibrary, ref: str, max_samples: PositiveInt | None = None,
          channel: NonNegativeInt | None = None, offset: NonNegativeInt | None = None) -> Task:
    """Fit a clip: mono mixdown (or one channel), divided by the whole clip's max|x|, then max_samples samples
    from sample offset (all, from 0, when unset)."""
    return clip_task("audio", ref, *load_clip(library, ref, max_samples, channel, offset))
