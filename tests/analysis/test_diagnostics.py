"""Activation statistics (bench.analysis.diagnostics) against the variance prediction, and the figures of both
analyses."""

import math

import pytest
import torch
from PIL import Image

from bench.analysis.diagnostics import layer_activations, layer_table, plot_activations
from bench.analysis.ntk import ntk_matrix, ntk_points, plot_spectra, spectra
from bench.models import Architecture, MemberSpec, build_ensemble, parse_model


def ensemble(task, arch, *models, seed=0):
    model, _ = build_ensemble([MemberSpec(parse_model(m), seed) for m in models], arch, task.info)
    return model


def test_wide_perturbed_layer_matches_the_variance_prediction(relay_2k):
    """methods.md: noise std s/w0 on an H x H matrix gives pre-activation variance about 1 + H s^2 / 2."""
    width = 1024
    model = ensemble(relay_2k, Architecture(1, width, 3, 1), "siren2:S0=0.02")
    layers = layer_activations(model, torch.linspace(-1, 1, 4096)[:, None])
    s = 30.0 * 0.02  # layer 1 carries N(0, S0^2) = N(0, (s / w0)^2)
    assert layers[1].pre.std() == pytest.approx(math.sqrt(1 + width * s**2 / 2), rel=0.05)
    table = layer_table(layers)
    assert list(table["layer"]) == [0, 1, 2]
    assert (table["pre_std"] / table["pre_std_predicted"]).between(0.9, 1.1).all()
    assert table["post_kurtosis"].between(-1.6, -1.2).all()  # arcsine law: -1.5


def test_figures_are_written(tmp_path, relay_2k):
    model = ensemble(relay_2k, Architecture(1, 64, 2, 1), "siren", "siren2")
    coords, shape = ntk_points(relay_2k, 64)
    members = spectra(ntk_matrix(model, coords), shape)
    plot_spectra({"siren": members[:1], "siren2": members[1:]}, tmp_path / "ntk.png", centroid=0.4)
    plot_activations(layer_activations(model, coords), tmp_path / "act.png", title="test")
    for name in ("ntk.png", "act.png"):
        with Image.open(tmp_path / name) as img:
            assert img.format == "PNG" and img.size[0] > 400 and img.getextrema() != ((255, 255),) * len(img.mode)
