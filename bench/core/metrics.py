"""Signal metrics: SNR and PSNR in dB from a mean squared error; SI-SNR and log-spectral distance of audio;
SSIM of images; and the spectral centroid of a target. Each batched over K members, and each result column
declared once, beside its function (``Metric``: label, which way is better, note), for tables, figures,
significance and ``bench run``'s summary. A plugin declares its own with ``declare_metric``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from bench.core.columns import METRIC, declare_column, seconds_to_column, steps_to_column
from bench.core.errors import UsageError


@dataclass(frozen=True)
class Conversion:
    """A metric's results in another convention, computed from result columns (e.g. the SIREN² code's peak
    PSNR from an SNR): ``convert`` maps rows holding every column of ``needs`` to the values of ``metric``."""

    metric: "Metric"
    needs: tuple[str, ...]
    convert: Callable  # pandas.DataFrame -> pandas.Series
    title: str
    caption: str


@dataclass(frozen=True)
class Metric:
    """A result column that scores a member: ``label`` names it with its unit (axes, headings), ``note``
    says what it measures (captions), ``digits`` are the decimals tables show. ``fit`` names the same score
    on the points a held-out task trained on (inpainting: ``snr_db`` is held-out, ``fit_snr_db`` kept);
    ``whole`` names the same score of a held-out task on every point, kept and held-out together;
    ``conversions`` are other conventions a report shows it in; ``levels`` the values of it whose steps to
    reach each row records (``time_to_quality``). ``level_of`` names, for such steps to a level, the metric
    whose curve they read: a row with that curve and no value never reached the level, and tables count it.
    ``higher_is_better`` is None only for a column tabulated without a better direction (``bench table`` on
    a parameter count or a centroid): its tables mark no best."""

    name: str
    label: str
    higher_is_better: bool | None = True
    note: str = ""
    digits: int = 2
    fit: str | None = None
    whole: str | None = None
    conversions: tuple[Conversion, ...] = ()
    levels: tuple[float, ...] = ()  # values whose steps to reach rows record (``time_to_quality``)
    level_of: str | None = None  # steps to a level of this metric's curve (NaN: never reached)

    @property
    def direction(self) -> str:
        """"higher" or "lower": which values are better ("neither" for a column without a direction)."""
        return "neither" if self.higher_is_better is None else "higher" if self.higher_is_better else "lower"

    def better(self, a: Tensor, b: Tensor) -> Tensor:
        """Where values ``a`` are better than ``b`` (elementwise)."""
        return a > b if self.higher_is_better else a < b


METRICS: dict[str, Metric] = {}  # name -> declaration, in declaration order (the order of a report's sections)


def declare_metric(metric: Metric) -> Metric:
    """Declare a result column as a metric (once; declaring the same again is harmless). A name that is
    another column of every row (``width``, ``seed``, ``status``...) is a usage error (``bench.core.columns``); so
    are digits that are not a count of decimals."""
    old = METRICS.get(metric.name)
    if old is not None and old != metric:
        raise UsageError(f"metric {metric.name!r} is declared twice, differently; rename one")
    if isinstance(metric.digits, bool) or not isinstance(metric.digits, int) or not 0 <= metric.digits <= 12:
        raise UsageError(f"metric {metric.name!r}: digits must be a whole number of decimals from 0 to 12, "
                         f"got {metric.digits!r}")
    declare_column(metric.name, METRIC)
    METRICS[metric.name] = metric
    return metric


def declared(name: str) -> Metric:
    """The declaration of metric ``name``; an undeclared one is a usage error."""
    try:
        return METRICS[name]
    except KeyError:
        raise UsageError(f"{name!r} is not a declared metric (declared: {', '.join(METRICS)}); a task's metrics "
                         f"are declared with bench.core.metrics.declare_metric (a plugin's: pass its file with "
                         f"--plugin FILE)") from None


def member_mse(out: Tensor, reference: Tensor, centred: bool = False) -> Tensor:
    """MSE [K] of each member's output out [K, N, C] against reference [N, C], in their dtype (cast both
    first for float64); ``centred``: each member's mean error removed first (a target known up to a constant)."""
    error = out - reference
    if centred:
        error = error - error.mean(dim=1, keepdim=True)
    return error.square().mean(dim=(1, 2))


def mean_square(values: Tensor) -> Tensor:
    """The mean of values^2 in float64 (a signal's power): a 0-d tensor."""
    return values.double().square().mean()


def snr_db(mse: Tensor, signal_power: float) -> Tensor:
    """SNR = 10 log10(mean y^2 / mse) = 10 log10(sum y^2 / sum (y - y_hat)^2), in dB."""
    return 10.0 * torch.log10(signal_power / mse)


def psnr_db(mse: Tensor, data_range: float) -> Tensor:
    """PSNR = 20 log10(data_range / rmse), in dB (data_range 2 for signals in [-1, 1])."""
    return 10.0 * torch.log10(data_range**2 / mse)


# STFT of the log-spectral distance: Hann window of LSD_FFT samples (fewer for shorter clips), hop of a
# quarter window, eps added to both power spectra (silent frames would otherwise give log(0)).
LSD_FFT = 2048
LSD_EPS = 1e-10
LSD_MIN_SAMPLES = 16  # shorter clips get NaN
SSIM_WINDOW = 11  # Gaussian window (sigma 1.5) of SSIM; smaller images get NaN


def si_snr_db(pred: Tensor, reference: Tensor) -> Tensor:
    """Scale-invariant SNR in dB of pred [K, N] against reference [N] (both mean-removed; the reference
    scaled to its best fit of each prediction), torchmetrics' implementation."""
    from torchmetrics.functional.audio.snr import scale_invariant_signal_noise_ratio

    pred, reference = pred.double(), reference.double().expand_as(pred)
    return scale_invariant_signal_noise_ratio(pred, reference).float()


def lsd_db(pred: Tensor, reference: Tensor) -> Tensor:
    """Log-spectral distance in dB of pred [K, N] from reference [N]: over STFT frames, the mean of the RMS
    over frequency of 10 log10((P + eps) / (P_hat + eps)), P and P_hat the power spectra (see LSD_FFT)."""
    if reference.shape[-1] < LSD_MIN_SAMPLES:  # too short for a spectrum worth the name
        return torch.full(pred.shape[:-1], float("nan"), device=pred.device)
    n_fft = min(LSD_FFT, 1 << (reference.shape[-1].bit_length() - 1))
    window = torch.hann_window(n_fft, dtype=torch.float64, device=pred.device)

    def power(x: Tensor) -> Tensor:  # [..., frequencies, frames]
        return torch.stft(x.double(), n_fft, hop_length=n_fft // 4, window=window, return_complex=True).abs() ** 2

    ratio = 10 * torch.log10((power(reference) + LSD_EPS) / (power(pred) + LSD_EPS))  # [K, F, T]
    return ratio.square().mean(dim=-2).sqrt().mean(dim=-1).float()


def ssim(pred: Tensor, reference: Tensor) -> Tensor:
    """Structural similarity of images pred [K, H, W, C] to reference [H, W, C], both with values in [0, 1]
    (predictions clipped to it), data range 1: the Gaussian-window SSIM of Wang et al. 2004 (11 x 11,
    sigma 1.5, K1 0.01, K2 0.03; the image mirrored beyond its border) averaged over all pixels and channels,
    by torchmetrics, which computes every member in one batched pass on the device (scikit-image would go
    member by member on the CPU, and averages only pixels 5 or more from the border)."""
    from torchmetrics.functional.image.ssim import structural_similarity_index_measure

    if min(reference.shape[:2]) < SSIM_WINDOW:
        return torch.full(pred.shape[:1], float("nan"), device=pred.device)
    reference = reference.permute(2, 0, 1)[None].double()
    return torch.cat([structural_similarity_index_measure(  # member by member: the maps are 5 x the image
        one.clamp(0, 1).permute(2, 0, 1)[None].double(), reference, data_range=1.0, reduction="none")
        for one in pred]).float()


def spectral_centroid(x: np.ndarray) -> float:
    """psi of docs/methods.md for a target x [n, C] (audio: samples; images: the H*W pixels flattened
    row-major, as the official SIREN² code passes them).

    Per channel: centroid of |rfft| over the n values (rfftfreq, d=1); psi = 2 * mean over channels / C,
    so that 1.0 is the Nyquist frequency.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"spectral_centroid expects values [n, C], got shape {x.shape}")
    magnitude = np.abs(np.fft.rfft(x, axis=0))
    freqs = np.fft.rfftfreq(x.shape[0], d=1.0)[:, None]
    total = magnitude.sum(axis=0)
    centroid = np.divide((magnitude * freqs).sum(axis=0), total, out=np.zeros_like(total), where=total > 0)
    channels = x.shape[1]
    return float(2.0 * centroid.mean() / channels)


_HELD_OUT = " Inpaint tasks score it on the held-out points only (never trained on)."
_WHOLE = " Inpaint tasks score the whole output (kept and held-out points) against the whole signal."


def _peak_one_psnr(rows):
    """best_snr_db - 10 log10(signal_power): the best 20 log10(1 / rmse), as SNR = 10 log10(power / mse)."""
    return rows["best_snr_db"] - 10 * np.log10(rows["signal_power"])


PEAK_ONE_PSNR = Metric("best_psnr_peak1_db", "best peak-1 PSNR (dB)")
TIME_TO_LEVELS_DB = (20.0, 30.0, 40.0)  # dB: the levels whose steps to reach rows record (weight scaling's claims are of speed)
SNR = declare_metric(Metric(
    "snr_db", "SNR (dB)", fit="fit_snr_db", whole="whole_snr_db", levels=TIME_TO_LEVELS_DB,
    note="SNR in dB on the whole evaluated signal, 10 log10(sum y^2 / sum (y - y_hat)^2), at the last step; "
         "higher is better." + _HELD_OUT,
    conversions=(Conversion(
        PEAK_ONE_PSNR, ("best_snr_db", "signal_power"), _peak_one_psnr, "In the SIREN² code's convention",
        "The best value over training of 20 log10(1 / rmse) on the target (the clip divided by its peak), the "
        "SIREN² code's printed `peak PSNR`: best_snr_db - 10 log10(signal_power), where signal_power is the "
        "target's mean square."),)))
PSNR = declare_metric(Metric(
    "psnr_db", "PSNR (dB)", fit="fit_psnr_db", whole="whole_psnr_db", levels=TIME_TO_LEVELS_DB,
    note="PSNR in dB at the last step, 20 log10(2 / rmse) on targets in [-1, 1] (data range 2; SIREN's convention); "
         "higher is better. The SIREN² repository reports 20 log10(1 / rmse), 6.02 dB lower." + _HELD_OUT))
FIT_SNR = declare_metric(Metric(
    "fit_snr_db", "fit SNR (dB)", note="SNR in dB of an inpaint task on the points it trained on (the kept points), "
    "at the last step; higher is better. Beside the held-out `snr_db` it tells fitting from generalizing."))
FIT_PSNR = declare_metric(Metric(
    "fit_psnr_db", "fit PSNR (dB)", note="PSNR in dB (data range 2) of an inpaint task on the pixels it trained on "
    "(the kept pixels), at the last step; higher is better. Beside the held-out `psnr_db` it tells fitting from "
    "generalizing."))
WHOLE_SNR = declare_metric(Metric(
    "whole_snr_db", "whole SNR (dB)", note="SNR in dB of an inpaint task on every point of the signal, kept and "
    "held-out together, at the last step; higher is better."))
WHOLE_PSNR = declare_metric(Metric(
    "whole_psnr_db", "whole PSNR (dB)", note="PSNR in dB (data range 2) of an inpaint task on every pixel of the "
    "image, kept and held-out together, at the last step; higher is better."))
SI_SNR = declare_metric(Metric(
    "si_snr_db", "SI-SNR (dB)",
    note="Scale-invariant SNR in dB at the last step (both signals mean-removed, the target scaled to its best fit "
         "of the reconstruction); higher is better." + _WHOLE))
LSD = declare_metric(Metric(
    "lsd", "LSD (dB)", higher_is_better=False,
    note="Log-spectral distance in dB at the last step: over STFT frames (Hann window of 2048 samples, fewer for "
         "shorter clips; hop a quarter window), the mean of the RMS over frequency of "
         "10 log10((P + 1e-10) / (P_hat + 1e-10)); lower is better, 0 for a perfect fit." + _WHOLE))
SSIM = declare_metric(Metric(
    "ssim", "SSIM", digits=4,
    note="SSIM at the last step on the image in [0, 1] (reconstruction clipped to it), data range 1, Gaussian window "
         "11 x 11 with sigma 1.5 (image mirrored at its border), averaged over all pixels and colour channels; higher "
         "is better, 1 for a perfect fit." + _WHOLE))

# The sdf task's scores (bench.tasks.sdf; the surface ones computed by bench.signals.shapes.surface_scores). Lengths are
# in the units of the cube [-1, 1]^3 the shape is scaled into (its largest half-extent 0.9).
SDF_RMSE = declare_metric(Metric(
    "sdf_rmse", "SDF RMSE", higher_is_better=False, digits=4,
    note="RMSE of the predicted signed distance against the exact one at the task's points (half on the surface, "
         "half uniform in the cube [-1, 1]^3), in the cube's units, at the last step; lower is better."))
CHAMFER = declare_metric(Metric(
    "chamfer", "Chamfer distance", higher_is_better=False, digits=4,
    note="Chamfer distance of the surface extracted at level 0 by marching cubes on the scoring grid: 10,000 points "
         "sampled on it and on the true surface, the mean distance from each to the nearest of the other set, "
         "summed over both directions, in the cube's units; lower is better (NaN: no surface extracted)."))
IOU = declare_metric(Metric(
    "iou", "IoU", digits=4,
    note="Intersection over union of the inside (signed distance < 0) of the fit and of the shape, over the points "
         "of the scoring grid; higher is better, 1 for the same solid."))
NORMAL_CONSISTENCY = declare_metric(Metric(
    "normal_consistency", "normal consistency", digits=4,
    note="Mean |cos| of the angle between the normals of the extracted surface and of the true one at nearest "
         "points (10,000 on each, both directions averaged); higher is better, 1 for the same surface."))


def steps_to_level(steps: Sequence[int], curve: Sequence[float], level: float, higher_is_better: bool = True) -> float:
    """The first step of a training curve (the metric after ``steps[i]`` steps is ``curve[i]``) at which the
    metric reached ``level``; NaN when it never did. As fine as the curve: every steps // 100 steps. An
    exact fit's infinite SNR reaches every level."""
    for step, value in zip(steps, curve):
        if value is not None and not math.isnan(value) and (value >= level if higher_is_better else value <= level):
            return float(step)
    return math.nan


def time_to_quality(metric: str, steps: Sequence[int], curve: Sequence[float], seconds: float,
                    total_steps: int) -> dict[str, float]:
    """For each of ``metric``'s levels: ``steps_to_{level}_{metric}`` and ``seconds_to_{level}_{metric}``
    (those steps at the run's mean seconds per step, ``seconds`` over ``total_steps``); NaN where never
    reached."""
    declaration = METRICS[metric]
    columns = {}
    for level in declaration.levels:
        reached = steps_to_level(steps, curve, level, declaration.higher_is_better)
        columns[steps_to_column(metric, level)] = reached
        columns[seconds_to_column(metric, level)] = reached * seconds / total_steps if total_steps else math.nan
    return columns


for _base in (SNR, PSNR):
    for _level in _base.levels:
        declare_metric(Metric(
            steps_to_column(_base.name, _level), f"steps to {_level:g} dB {_base.label.removesuffix(' (dB)')}",
            higher_is_better=False, digits=0, level_of=_base.name,
            note=f"Training steps until the {_base.name} curve first reached {_level:g} dB (to the curve's "
                 f"resolution, a hundredth of the run); lower is better. Mean over the seeds that reached it; "
                 f"(k/n): k of the cell's n seeds did. In bold: the fewest steps among the cells whose seeds reached "
                 f"it most often (the largest k/n)."))
