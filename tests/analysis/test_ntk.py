"""Empirical NTK (bench.analysis.ntk): the kernel, its spectrum and summaries."""

import pytest
import torch

from bench.analysis.ntk import NtkOptions, ntk_matrix, ntk_points, ntk_summaries, spectra
from bench.core.errors import UsageError
from bench.models import Architecture, MemberSpec, build_ensemble, parse_model


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
