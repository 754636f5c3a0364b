"""Signal metrics in dB, computed from a mean squared error, and the spectral centroid of a target."""

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
