"""Empirical NTK, its spectrum and summaries, activation statistics and their figures."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from bench.cli import main
from bench.analysis.diagnostics import layer_activations, layer_table, plot_activations
from bench.core.errors import UsageError
from bench.models import Architecture, MemberSpec, build_ensemble, parse_model
from bench.analysis.ntk import NtkOptions, ntk_matrix, ntk_points, ntk_summaries, plot_spectra, spectra


def ensemble(task, arch, *models, seed=0):
    model, _ = build_ensemble([MemberSpec(parse_model(m), seed) for m in models], arch, task.info)
    return model


def brute_force_ntk(model, coords, member):
    """J J^T / M^2 from one backward pass per point."""
    rows = []
    for x in coords:
        model.zero_grad()
        model(x[None])[member].mean().backward()
        rows.append(torch.cat([p.grad[member].reshape(-1) for p in model.parameters()]))
    jacobian = torch.stack(rows).double()
    return jacobian @ jacobian.T / len(coords) ** 2


@pytest.mark.parametrize("fixture, points", [("relay_2k", 48), ("camera_32", 36)])
def test_ntk_equals_the_per_sample_gradient_ntk(request, fixture, points):
    task = request.getfixturevalue(fixture)
    model = ensemble(task, Architecture(task.info.d_in, 12, 2, 1), "siren", "siren2", "winner")
    coords, _ = ntk_points(task, points)
    kernel = ntk_matrix(model, coords)
    assert kernel.shape == (3, points, points) and kernel.dtype == torch.float64
    for member in range(3):
        expected = brute_force_ntk(model, coords, member)
        torch.testing.assert_close(kernel[member], expected, rtol=1e-5, atol=1e-9 * expected.abs().max().item())


@pytest.mark.parametrize("name", ["siren2", "relu_pe", "gauss"])
def test_a_members_kernel_does_not_depend_on_its_ensemble(relay_2k, name):
    """Trained and fixed parameters (relu_pe's encoding) alike belong to one member only."""
    together, _ = build_ensemble([MemberSpec(parse_model(name), seed) for seed in (0, 1)], Architecture(1, 16, 2, 1),
                                 relay_2k.info)
    alone = ensemble(relay_2k, Architecture(1, 16, 2, 1), name, seed=0)
    coords, _ = ntk_points(relay_2k, 32)
    torch.testing.assert_close(ntk_matrix(together, coords)[0], ntk_matrix(alone, coords)[0])


def test_chunked_jacobians_give_the_same_kernel(relay_2k):
    model = ensemble(relay_2k, Architecture(1, 16, 2, 1), "siren2", "siren")
    coords, _ = ntk_points(relay_2k, 40)
    whole = ntk_matrix(model, coords)
    tiny_chunks = ntk_matrix(model, coords, max_bytes=2 * 4 * model.member_parameters() * 7)  # 7 points per chunk
    torch.testing.assert_close(tiny_chunks, whole)


@pytest.mark.parametrize("fixture, points, shape", [("relay_2k", 64, (64,)), ("camera_32", 64, (8, 8))])
def test_spectrum_energy_sums_to_the_trace(request, fixture, points, shape):
    task = request.getfixturevalue(fixture)
    model = ensemble(task, Architecture(task.info.d_in, 16, 2, 1), "siren", "siren2")
    coords, grid = ntk_points(task, points)
    assert grid == shape
    kernel = ntk_matrix(model, coords)
    for spectrum, k in zip(spectra(kernel, grid), kernel):
        assert spectrum.energy.sum() == pytest.approx(torch.trace(k).item(), rel=1e-9)
        assert spectrum.eigenvalues[0] == pytest.approx(torch.linalg.eigvalsh(k)[-1].item(), rel=1e-9)
        summary = spectrum.summary(task.info.centroid)
        assert summary["total"] == pytest.approx(torch.trace(k).item(), rel=1e-9)
        assert 0 <= summary["frac_above_centroid"] <= 1 and 1 <= summary["effective_rank"] <= points


def test_noise_moves_ntk_energy_above_the_target_centroid(library):
    """relay.wav is a strong-high-frequency clip: SIREN's NTK puts little energy above its centroid."""
    from bench.tasks import load_task

    task = load_task("audio:relay", library, {"max_samples": 4096})
    for seed in (0, 1):
        model = ensemble(task, Architecture(1, 32, 3, 1), "siren", "siren2", seed=seed)
        siren, siren2 = ntk_summaries(model, task, 256, "ntk")
        assert siren2["ntk_frac_above_centroid"] > 1.5 * siren["ntk_frac_above_centroid"]
        assert siren2["ntk_centroid"] > siren["ntk_centroid"]


def test_ntk_points_errors(camera_32, relay_2k):
    with pytest.raises(UsageError, match="square number"):
        ntk_points(camera_32, 50)
    with pytest.raises(UsageError, match="exceeds the signal's 2048 samples"):
        ntk_points(relay_2k, 4096)
    with pytest.raises(UsageError, match="NTK stages must be among init, final"):
        NtkOptions(("start",))


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


def test_bench_ntk_and_diagnose_commands(tmp_path, capsys, need):
    need("camera")
    code = main(["ntk", "--model", "siren", "--model", "siren2", "--task", "image:camera", "--side", "32",
                 "--width", "16", "--layers", "2", "--points", "64", "--seeds", "0-1", "--device", "cpu",
                 "--out", str(tmp_path / "ntk"), "--plot", str(tmp_path / "ntk.png")])
    out = capsys.readouterr().out
    assert code == 0 and "| siren2 " in out and "frac_above_centroid" in out
    rows = pd.read_parquet(tmp_path / "ntk")
    assert len(rows) == 4 and rows["ntk_init_total"].gt(0).all() and (tmp_path / "ntk.png").stat().st_size > 0
    code = main(["diagnose", "--model", "winner", "--width", "32", "--layers", "2", "--points", "512",
                 "--format", "csv", "--plot", str(tmp_path / "act.png")])
    out = capsys.readouterr().out
    assert code == 0 and out.startswith("layer,weight_std,pre_std,pre_std_predicted,post_kurtosis")
    assert len(out.strip().splitlines()) == 3 and (tmp_path / "act.png").stat().st_size > 0


def test_run_records_ntk_columns_at_init_and_after_training(tmp_path, capsys):
    code = main(["run", "--model", "siren", "--model", "siren2:S0=1e30", "--task", "audio:arch", "--max-samples",
                 "512", "--width", "16", "--layers", "2", "--steps", "10", "--seeds", "0", "--device", "cpu",
                 "--ntk", "init,final", "--ntk-points", "64", "--out", str(tmp_path), "--no-progress"])
    assert code == 1  # the second member diverges
    rows = pd.read_parquet(tmp_path).set_index("model")
    assert rows.loc["siren", "ntk_init_total"] > 0 and rows.loc["siren", "ntk_final_total"] > 0
    assert rows.loc["siren", "ntk_final_total"] != rows.loc["siren", "ntk_init_total"]
    assert np.isnan(rows.loc["siren2", "ntk_final_total"])  # its weights are no longer finite
    code = main(["run", "--ntk", "start", "--out", str(tmp_path)])
    assert code == 2 and "NTK stages must be among init, final" in capsys.readouterr().err
    for args, message in ((["--ntk-points", "9999"], "exceeds the signal's 512 samples"),
                          (["--model", "wire"], "the NTK of complex-valued models (wire) is not supported")):
        code = main(["run", "--task", "audio:arch", "--max-samples", "512", "--steps", "2", "--ntk", "init",
                     "--device", "cpu", "--out", str(tmp_path / "checked"), *args])
        assert code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "checked").exists()  # refused before anything trained or was written


def test_ntk_asked_of_members_stored_without_it_is_refused_not_skipped(tmp_path, capsys):
    base = ["run", "--model", "siren", "--task", "audio:arch", "--max-samples", "256", "--width", "8", "--layers", "1",
            "--steps", "3", "--seeds", "0", "--device", "cpu", "--out", str(tmp_path / "without"), "--no-progress"]
    assert main(base) == 0
    capsys.readouterr()
    assert main([*base, "--ntk", "init", "--ntk-points", "32"]) == 2
    assert "1 of the members asked for are already stored" in capsys.readouterr().err
    assert "ntk_init_total" not in pd.read_parquet(tmp_path / "without")
    assert main([*base, "--ntk", "init", "--ntk-points", "32", "--out", str(tmp_path / "with")]) == 0
    assert main([*base, "--ntk", "init", "--ntk-points", "32", "--out", str(tmp_path / "with")]) == 0  # stored with it
    assert "nothing to run" in capsys.readouterr().err
