"""Signal metrics: SNR and PSNR in dB from a mean squared error; SI-SNR and log-spectral distance of audio;
SSIM of images; and the spectral centroid of a target. Each batched over K members."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


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
