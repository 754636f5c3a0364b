"""Inpainting and super-resolution tasks: what training sees, held-out scoring and interpolation references."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.interpolate import griddata

from bench.core.metrics import spectral_centroid
from bench.models import Architecture, MemberSpec, build_ensemble, parse_model
from bench.signals import masks
from bench.tasks import held_out_task, load_task
from bench.tasks.audio import clip_task, load_clip
from bench.tasks.inpaint_audio import snr_against
from bench.training import TrainConfig, train


def members(task, width, *models):
    arch = Architecture(task.info.d_in, width, 2, task.info.d_out)
    return build_ensemble([MemberSpec(parse_model(m), s) for s, m in enumerate(models)], arch, task.info)[0]


def kept_index(task):
    """The kept points of a held-out task, as indices into the whole signal."""
    return task.held_out.kept


def test_random_mask_depends_on_its_seed_only(library):
    options = {"max_samples": 4096, "keep": 0.3}
    first, again = (load_task("inpaint-audio:relay", library, options | {"mask_seed": 5}) for _ in range(2))
    other = load_task("inpaint-audio:relay", library, options | {"mask_seed": 6})
    assert torch.equal(first.held_out.index, again.held_out.index) and torch.equal(first.coords, again.coords)
    assert not torch.equal(first.held_out.index, other.held_out.index)
    assert first.size == round(0.3 * 4096) and first.size + len(first.held_out.index) == 4096
    assert first.meta["mask_digest"] == again.meta["mask_digest"] != other.meta["mask_digest"]


def test_training_points_are_the_kept_points_and_never_a_held_out_one(library):
    task = load_task("inpaint-image:camera", library, {"side": 32, "keep": 0.25, "mask_seed": 1})
    kept, held = kept_index(task), task.held_out.index.numpy()
    assert len(np.intersect1d(kept, held)) == 0 and len(kept) + len(held) == 32 * 32
    torch.testing.assert_close(task.coords, task.held_out.coords[kept], rtol=0, atol=0)
    torch.testing.assert_close(task.target, task.held_out.reference[kept], rtol=0, atol=0)
    training_points = {tuple(c) for c in task.coords.tolist()}
    assert not training_points & {tuple(c) for c in task.held_out.coords[held].tolist()}


@pytest.mark.parametrize("batch_size", [None, 256])
def test_held_out_values_never_reach_training(library, batch_size):
    """Training (full batch or minibatches) on a clip whose held-out samples are replaced by noise is bitwise
    the same (weights and fit curve); only the held-out score changes."""
    samples, rate = load_clip(library, "relay", 2048)
    kept = masks.random_subset(len(samples), 0.5, seed=0)
    garbled = samples.copy()
    held = np.setdiff1d(np.arange(len(samples)), kept)
    garbled[held] = np.random.default_rng(1).normal(size=len(held))
    runs = []
    for values in (samples, garbled):
        task = held_out_task(clip_task("inpaint-audio", "relay", values, rate), kept, snr_against, {})
        model = members(task, 16, "siren", "winner")
        outcome = train(model, task, TrainConfig(steps=30, lr=1e-4, batch_size=batch_size, eval_every=10),
                        progress=False)
        runs.append((model, outcome))
    (model_a, a), (model_b, b) = runs
    for pa, pb in zip(model_a.parameters(), model_b.parameters()):
        assert torch.equal(pa, pb)
    assert [m.curve for m in a.members] == [m.curve for m in b.members]
    assert all(ma.extra["snr_db"] != mb.extra["snr_db"] for ma, mb in zip(a.members, b.members))


@pytest.mark.parametrize("batch_size", [None, 512])
def test_held_out_curve_and_best_are_of_the_right_weights(library, batch_size):
    """The held-out curve's point after s steps is the held-out metric of a run stopped after s steps; the
    best step is that of the best fit, and best_snr_db the held-out metric of its weights."""
    task = load_task("inpaint-audio:relay", library, {"max_samples": 2048, "keep": 0.5})
    cfg = TrainConfig(steps=8, lr=1e-3, batch_size=batch_size, eval_every=2)
    outcome = train(members(task, 16, "siren", "winner"), task, cfg, progress=False).members
    short = train(members(task, 16, "siren", "winner"), task, TrainConfig(steps=4, lr=1e-3, batch_size=batch_size,
                                                                           eval_every=2), progress=False).members
    at = outcome[0].curve_steps.index(4)
    for long, stopped in zip(outcome, short):
        assert len(long.held_out_curve) == len(long.curve) == len(long.curve_steps)
        assert long.held_out_curve[at] == pytest.approx(stopped.extra["snr_db"], abs=1e-5)
        assert long.curve[at] == pytest.approx(stopped.final, abs=1e-5)
        assert long.held_out_curve[-1] == pytest.approx(long.extra["snr_db"], abs=1e-5)
    for member in outcome:
        best = int(np.nanargmax(member.curve))
        assert member.best_step == member.curve_steps[best] and member.best == pytest.approx(member.curve[best])
        assert member.best_extra["snr_db"] == pytest.approx(member.held_out_curve[best], abs=1e-5)


def test_held_out_points_move_with_the_task(library):
    task = load_task("inpaint-image:camera", library, {"side": 16, "stride": 2}).to("meta")
    assert {t.device.type for t in (task.coords, task.target, task.held_out.coords, task.held_out.reference,
                                    task.held_out.index)} == {"meta"}


def test_ntk_of_an_inpaint_task_runs_on_the_whole_grid(library):
    from bench.analysis.ntk import ntk_points

    image = load_task("inpaint-image:camera", library, {"side": 16, "keep": 0.3})
    coords, shape = ntk_points(image, 64)
    assert shape == (8, 8) and torch.equal(coords, load_task("image:camera", library, {"side": 16}).coords
                                           .reshape(16, 16, 2)[4:12, 4:12].reshape(-1, 2))
    clip = load_task("inpaint-audio:relay", library, {"max_samples": 2048, "gaps": 2, "gap_length": 100})
    coords, _ = ntk_points(clip, 256)
    assert torch.equal(coords, torch.linspace(-1, 1, 2048)[:256, None])  # evenly spaced, holes included


def test_silent_held_out_samples_are_an_error(library):
    from bench.core.errors import BenchError

    with pytest.raises(BenchError, match="held-out samples .* are all silent"):
        load_task("inpaint-audio:gt_bach", library, {"max_samples": 1300, "gaps": 1, "gap_length": 50})  # 1,242 zeros first


def test_held_out_metric_of_an_exact_and_of_a_zero_prediction(library):
    audio = load_task("inpaint-audio:relay", library, {"max_samples": 4096, "stride": 3})
    image = load_task("inpaint-image:camera", library, {"side": 24, "keep": 0.5})
    for task, metric in ((audio, "snr_db"), (image, "psnr_db")):
        reference = task.held_out.reference
        exact = task.held_out.score(reference[None])
        assert exact[metric].item() == float("inf")
        zero = task.held_out.score(torch.zeros_like(reference)[None])[metric].item()
        y = reference[task.held_out.index].double().numpy()
        direct = 10 * np.log10(np.mean(y**2) / np.mean(y**2)) if metric == "snr_db" else 10 * np.log10(4 / np.mean(y**2))
        assert zero == pytest.approx(direct, abs=1e-4)
    ssim = image.held_out.score(image.held_out.reference[None])["ssim"].item()
    assert ssim == pytest.approx(1.0, abs=1e-6)


def test_evaluation_scores_kept_and_held_out_points_apart(library):
    task = load_task("inpaint-audio:relay", library, {"max_samples": 4096, "gaps": 3, "gap_length": 200,
                                                      "mask_seed": 2})
    model = members(task, 16, "siren2", "winner")
    metrics = task.evaluate(model)
    with torch.no_grad():
        out = model(task.held_out.coords).double()
    reference = task.held_out.reference.double()
    held = task.held_out.index
    kept = torch.from_numpy(kept_index(task))

    def snr(idx):
        return 10 * torch.log10(reference[idx].square().mean() / (out[:, idx] - reference[idx]).square().mean(dim=(1, 2)))

    torch.testing.assert_close(metrics["snr_db"].double(), snr(held), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(metrics["fit_snr_db"].double(), snr(kept), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(metrics["whole_snr_db"].double(), snr(slice(None)), rtol=1e-4, atol=1e-4)
    assert {"si_snr_db", "lsd"} <= set(metrics)


def test_the_fourier_features_protocol_scores_every_pixel_beside_the_held_out_ones(library):
    """Every other row and column of a native-resolution Kodak crop trained on (the Fourier-features paper's
    held-out-pixel protocol): ``whole_psnr_db`` is the PSNR over all pixels, from the same output as the
    held-out and fit scores, each on its own pixels of the image file read directly."""
    from PIL import Image

    task = load_task("inpaint-image:kodak512_hats", library, {"crop": 32, "crop_row": 200, "crop_col": 100,
                                                               "stride": 2})
    pixels = np.asarray(Image.open(library.path("kodak512_hats", "image")).convert("RGB"), dtype=np.float64)
    image = pixels[200:232, 100:132] / 255 * 2 - 1  # [32, 32, 3] in [-1, 1]
    np.testing.assert_allclose(task.target.numpy(), image[::2, ::2].reshape(-1, 3), atol=1e-6)
    assert task.meta["n_kept"] == 16 * 16 and task.meta["n_held_out"] == 32 * 32 - 16 * 16
    model = members(task, 16, "siren", "winner")
    metrics = task.evaluate(model)
    with torch.no_grad():
        out = model(task.held_out.coords).double().numpy().reshape(2, 32, 32, 3)
    error = (out - image) ** 2
    kept = np.zeros((32, 32), dtype=bool)
    kept[::2, ::2] = True

    def psnr(mse):
        return 10 * np.log10(4 / mse)

    np.testing.assert_allclose(metrics["whole_psnr_db"].numpy(), psnr(error.mean(axis=(1, 2, 3))), atol=1e-3)
    np.testing.assert_allclose(metrics["psnr_db"].numpy(), psnr(error[:, ~kept].mean(axis=(1, 2))), atol=1e-3)
    np.testing.assert_allclose(metrics["fit_psnr_db"].numpy(), psnr(error[:, kept].mean(axis=(1, 2))), atol=1e-3)


def test_init_sees_only_the_kept_samples_in_order(library):
    samples, _ = load_clip(library, "relay", 4096)
    strided = load_task("inpaint-audio:relay", library, {"max_samples": 4096, "stride": 4})
    assert strided.info.centroid == pytest.approx(spectral_centroid(samples[::4, None]), rel=1e-5)
    whole = load_task("audio:relay", library, {"max_samples": 4096})
    assert strided.info.centroid != pytest.approx(whole.info.centroid, rel=1e-3)
    assert strided.meta["centroid"] == strided.info.centroid


def test_linear_interpolation_reference(library):
    clip = load_task("inpaint-audio:relay", library, {"max_samples": 4096, "stride": 2})
    y = clip.held_out.reference[:, 0].double().numpy()
    inner = np.arange(1, 4095, 2)  # held-out samples between two kept ones: their mean
    estimate = np.append((y[inner - 1] + y[inner + 1]) / 2, y[4094])  # the last one extrapolates: nearest kept
    held = y[clip.held_out.index.numpy()]
    direct = 10 * np.log10(np.mean(held**2) / np.mean((held - estimate) ** 2))
    assert clip.meta["interp_snr_db"] == pytest.approx(direct, abs=1e-3)

    from bench.tasks.image import load_image
    from bench.tasks.inpaint_image import interpolate

    values = load_image(library, "camera", 16)[:15, :11]  # not square, odd sides: the last row and column kept
    kept = masks.strided_grid(15, 11, 2)
    held = np.array([1, 11 * 3 + 5, 11 * 5 + 2])  # (0, 1), (3, 5) and (5, 2)
    expected = [(values[0, 0] + values[0, 2]) / 2,
                (values[2, 4] + values[2, 6] + values[4, 4] + values[4, 6]) / 4,  # bilinear: the four corners
                (values[4, 2] + values[6, 2]) / 2]
    np.testing.assert_allclose(interpolate(values, kept, held, stride=2), np.stack(expected), atol=1e-12)
    # a random mask: exact on a plane (linear in row and column) inside the hull, nearest kept value outside it
    rows, cols = np.meshgrid(np.arange(15), np.arange(11), indexing="ij")
    plane = (0.3 * rows - 0.7 * cols + 2.0)[..., None]
    kept = masks.random_subset(15 * 11, 0.4, seed=3)
    held = np.setdiff1d(np.arange(15 * 11), kept)
    estimate = interpolate(plane, kept, held)[:, 0]
    inside = ~np.isnan(griddata(np.stack(np.divmod(kept, 11), 1), plane.reshape(-1)[kept],
                                np.stack(np.divmod(held, 11), 1)))
    np.testing.assert_allclose(estimate[inside], plane.reshape(-1)[held][inside], atol=1e-9)
    assert set(estimate[~inside]) <= set(plane.reshape(-1)[kept])

    image = load_task("inpaint-image:camera", library, {"side": 16, "stride": 2})
    full = load_image(library, "camera", 16)
    truth = full.reshape(-1, 1)[image.held_out.index.numpy()]
    guess = interpolate(full, masks.strided_grid(16, 16, 2), image.held_out.index.numpy(), stride=2)
    direct = 10 * np.log10(4 / np.mean((truth - guess) ** 2))
    assert image.meta["interp_psnr_db"] == pytest.approx(direct, abs=1e-3)


def test_a_spelled_out_default_mask_is_the_same_cell_as_none(library, tmp_path):
    from bench.experiment.plan import expand
    from bench.experiment.spec import load_spec

    def keys(mask_lines):
        spec = tmp_path / "s.toml"
        spec.write_text('seeds = [0]\nwidths = 8\nlayers = 1\n[models]\nsiren = {}\n[[tasks]]\ntask = "inpaint-audio"\n'
                        f'signals = ["arch"]\nmax_samples = 512\n{mask_lines}\n'
                        f'[[tasks]]\ntask = "inpaint-image"\nsignals = ["camera"]\nside = 16\n{mask_lines}\n')
        return sorted(cell.key for cell in expand(load_spec(spec, library)))

    assert keys("") == keys("keep = 0.5") == keys("keep = 0.5\nmask_seed = 0") == keys("mask_seed = 0")
    assert keys("keep = 0.25") != keys("") != keys("mask_seed = 1")


def test_a_metric_declared_without_fit_or_whole_scores_held_out_points_as_before(library, monkeypatch):
    """A plugin's metric need not declare ``fit`` or ``whole``: the fit column is then ``fit_<metric>`` and no
    every-point column is made (never a column named None)."""
    from dataclasses import replace

    from bench.core import columns, metrics

    monkeypatch.setattr(metrics, "METRICS", dict(metrics.METRICS))  # the declarations below end with the test
    monkeypatch.setattr(columns, "_declared", dict(columns._declared))
    metrics.declare_metric(metrics.Metric("toy_psnr_db", "toy PSNR (dB)"))
    metrics.declare_metric(metrics.Metric("fit_toy_psnr_db", "fit toy PSNR (dB)"))
    whole = load_task("image:camera", library, {"side": 16})
    task = held_out_task(replace(whole, metric="toy_psnr_db"), masks.strided_grid(16, 16, 2),
                         lambda reference: whole.metric_from_mse, {})
    assert task.metric == "fit_toy_psnr_db" and task.quality_metrics == whole.quality_metrics
    scores = task.evaluate(members(task, 8, "siren"))
    assert set(scores) == {"fit_toy_psnr_db", "toy_psnr_db", "ssim"}
