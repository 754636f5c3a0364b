"""Activation statistics of one member (docs/methods.md, "Activation statistics"): per hidden
layer the pre-activations omega (W h + b) and post-activations, their spread against theory, and their
power spectra, on evenly spaced 1-D inputs.

Theory: a sine layer's outputs follow the arcsine law on [-1, 1] (mean square 1/2); the pre-activation
of layer i is then close to normal with variance omega^2 (fan_in Var(W_i) E[h^2] + Var(b_i)), E[h^2] =
1/2 for hidden inputs (the mean square of the coordinates for layer 0). For SIREN this is about 1 (plus
the bias term omega^2 / (3 fan_in)); with N(0, (s/omega)^2) noise on an H x H matrix it is 1 + H s^2 / 2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.signal
import scipy.stats
import torch

from bench.models import Ensemble
from bench.core.plotting import headline, pyplot, save_figure


@dataclass(frozen=True)
class LayerActivations:
    """One hidden layer of one member on N inputs: pre [N, H] = omega z, post [N, H] = activation output."""

    layer: int
    pre: np.ndarray
    post: np.ndarray
    weight_std: float
    pre_std_predicted: float


@torch.no_grad()
def layer_activations(model: Ensemble, coords: torch.Tensor, member: int = 0) -> list[LayerActivations]:
    """Activations of ``member`` at coords [N, d_in], with the predicted pre-activation std of each layer."""
    layers, h_in = [], coords
    for i, (z, h) in enumerate(model.hidden_layers(coords)):
        omega = float(model.omegas[i, member].flatten()[0])  # of several numbers (SPDER's): the first, the frequency
        weights, bias = model.weight(i)[member], model.biases[i][member]
        mean_square_in = 0.5 if i else float(h_in.square().mean())
        predicted = omega * math.sqrt(weights.shape[1] * float(weights.var()) * mean_square_in + float(bias.var()))
        layers.append(LayerActivations(i, (omega * z[member]).cpu().numpy(), h[member].cpu().numpy(),
                                       float(weights.std()), predicted))
        h_in = h[member]
    return layers


def layer_table(layers: list[LayerActivations]) -> pd.DataFrame:
    """Per layer: weight std, pre-activation std (measured, predicted), post-activation excess kurtosis
    (arcsine law: -1.5)."""
    return pd.DataFrame([{
        "layer": a.layer, "weight_std": a.weight_std, "pre_std": float(a.pre.std()),
        "pre_std_predicted": a.pre_std_predicted,
        "post_kurtosis": float(scipy.stats.kurtosis(a.post.reshape(-1))),
    } for a in layers])


def plot_activations(layers: list[LayerActivations], path, title: str = "") -> None:
    """Rows = layers; columns: pre-activation histogram with its normal prediction (from layer 1 on: layer 0
    is a product of uniforms, not normal), post-activation histogram with the arcsine density, periodogram of
    the activations summed over units (log y)."""
    plt, _ = pyplot()
    # histograms with numpy: seaborn's histplot is far too slow for H x N values (tens of millions)
    fig, axes = plt.subplots(len(layers), 3, figsize=(12, 2.6 * len(layers)), squeeze=False)
    for row, a in zip(axes, layers):
        pre, post = a.pre.reshape(-1), a.post.reshape(-1)
        row[0].stairs(*np.histogram(pre, bins=100, density=True), fill=True, alpha=0.6)
        if a.layer > 0:  # a sum over many inputs: close to normal
            x = np.linspace(pre.min(), pre.max(), 400)
            row[0].plot(x, scipy.stats.norm.pdf(x, scale=a.pre_std_predicted), color="k", lw=1)
            row[0].set_title(f"layer {a.layer}: pre-activation (std {pre.std():.3g};\nline: "
                             f"N(0, {a.pre_std_predicted:.3g}²))", fontsize=9)  # named in the title: no legend over bars
        else:  # uniform inputs times uniform weights plus a uniform bias: no normal law to draw
            row[0].set_title(f"layer 0: pre-activation (std {pre.std():.3g},\npredicted "
                             f"{a.pre_std_predicted:.3g}; not normal)", fontsize=9)
        row[0].set_ylabel("density", fontsize=8)
        row[1].stairs(*np.histogram(post, bins=100, density=True), fill=True, alpha=0.6, color="tab:orange")
        u = np.linspace(-0.995, 0.995, 400)
        row[1].plot(u, 1 / (np.pi * np.sqrt(1 - u**2)), color="k", lw=1)
        row[1].set_title(f"layer {a.layer}: post-activation\n(line: the arcsine density)", fontsize=9)
        row[1].set_ylabel("density", fontsize=8)
        for values, name in ((a.pre, "pre"), (a.post, "post")):
            freqs, power = scipy.signal.periodogram(values.sum(axis=1))
            row[2].semilogy(freqs[1:] * 2, power[1:] + 1e-30, lw=0.8, label=name)  # x: 1.0 = Nyquist
        row[2].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
        row[2].set_title(f"layer {a.layer}: periodogram of the sum over units", fontsize=9)
        row[2].set_xlabel("frequency (1 = Nyquist)", fontsize=8)
        row[2].set_ylabel("power", fontsize=8)
    headline(fig, title)
    fig.tight_layout()
    save_figure(fig, path)
