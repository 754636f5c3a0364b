"""Poisson reconstruction (batched autograd derivatives) and denoising on real images and clips."""

import numpy as np
import pytest
import torch

from bench.models import Architecture, MemberSpec, build_ensemble, parse_model
from bench.tasks import load_task
from bench.training import TrainConfig, train


def members(task, arch, *models):
    model, _ = build_ensemble([MemberSpec(parse_model(m), s) for s, m in enumerate(models)], arch, task.info)
    return model


@pytest.mark.parametrize("name", ["poisson-grad", "poisson-lapl"])
def test_batched_derivatives_match_finite_differences(library, name):
    task = load_task(f"{name}:camera", library, {"side": 16})
    model = members(task, Architecture(2, 24, 2, 1), "siren", "siren2", "winner").double()
    coords = task.coords[::17].double()
    _, deriv = task.fits(model, coords, "fp32", training=False)
    h = 1e-4
    with torch.no_grad():
        def shifted(axis, sign):
            return model(coords + sign * h * torch.eye(2, dtype=torch.float64)[axis])[..., 0]  # [K, B]
        grads = [(shifted(a, 1) - shifted(a, -1)) / (2 * h) for a in (0, 1)]
        second = [(shifted(a, 1) - 2 * model(coords)[..., 0] + shifted(a, -1)) / h**2 for a in (0, 1)]
    expected = torch.stack(grads, -1) if name == "poisson-grad" else (second[0] + second[1])[..., None]
    assert deriv.shape == expected.shape == ((3, len(coords), 2) if name == "poisson-grad" else (3, len(coords), 1))
    torch.testing.assert_close(deriv, expected, rtol=1e-3, atol=1e-3 * expected.abs().max().item())


def test_gradient_target_is_the_image_gradient_in_coordinate_units(library):
    task = load_task("poisson-grad:camera", library, {"side": 64})
    gray = task.reference.reshape(64, 64).double().numpy()
    for axis in (0, 1):
        reference = np.gradient(gray, axis=axis) * (64 - 1) / 2  # central differences per coordinate unit
        target = task.target[:, axis].reshape(64, 64).double().numpy()
        assert np.corrcoef(reference.ravel(), target.ravel())[0, 1] > 0.9  # Sobel also smooths across
        assert np.linalg.norm(target) == pytest.approx(np.linalg.norm(reference), rel=0.25)


@pytest.mark.parametrize("name", ["poisson-grad", "poisson-lapl"])
def test_a_short_poisson_fit_improves_the_reconstruction(library, name):
    task = load_task(f"{name}:camera", library, {"side": 32})
    model = members(task, Architecture(2, 32, 3, 1), "siren")
    initial = task.evaluate(model)
    outcome = train(model, task, TrainConfig(steps=80, lr=1e-4), progress=False).members[0]
    error = "grad_mse" if name == "poisson-grad" else "lapl_mse"
    assert outcome.extra[error] < 0.5 * initial[error].item()
    # the Laplacian hardly constrains low frequencies, so its reconstruction improves slowly
    assert outcome.final > initial["psnr_db"].item() + (1.0 if name == "poisson-grad" else 0.05)


def test_denoising_trains_on_the_noisy_signal_and_scores_on_the_clean_one(library):
    task = load_task("denoise-audio:relay", library, {"max_samples": 4096, "noise_snr": 10.0, "noise_seed": 3})
    clean_power = task.reference.double().square().mean()
    noise_power = (task.target - task.reference).double().square().mean()
    assert 10 * torch.log10(clean_power / noise_power).item() == pytest.approx(10.0, abs=0.3)
    assert task.meta["noisy_snr_db"] == pytest.approx(10 * torch.log10(clean_power / noise_power).item(), abs=1e-3)
    model = members(task, Architecture(1, 16, 2, 1), "siren2", "winner")
    losses, metric = task.step(model, None)
    pred = model(task.coords).detach()
    torch.testing.assert_close(losses.detach(), (pred - task.target).square().mean(dim=(1, 2)))  # noisy
    clean_snr = 10 * torch.log10(clean_power / (pred - task.reference).double().square().mean(dim=(1, 2)))
    torch.testing.assert_close(metric.double(), clean_snr, rtol=1e-4, atol=1e-4)  # clean
    torch.testing.assert_close(task.evaluate(model)["snr_db"].double(), clean_snr, rtol=1e-4, atol=1e-4)
    again = load_task("denoise-audio:relay", library, {"max_samples": 4096, "noise_snr": 10.0, "noise_seed": 3})
    assert torch.equal(again.target, task.target)  # seeded noise


def test_denoise_image_noise_scale_and_init_sees_only_the_noisy_image(library):
    task = load_task("denoise-image:camera", library, {"side": 32, "noise_std": 0.1})
    assert (task.target - task.reference).std().item() == pytest.approx(0.2, rel=0.1)  # 0.1 of [0, 1] = 0.2 of [-1, 1]
    clean = load_task("image:camera", library, {"side": 32})
    torch.testing.assert_close(task.reference, clean.target)
    assert task.info.centroid != clean.info.centroid  # WINNER's centroid comes from what it is trained on
