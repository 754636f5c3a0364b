"""FreSh against the computation of its official code, written out here in plain torch, numpy and scipy.

gmum/FreSh @ b148acf (the repository's only later commit, 494ae6c, edits the README): the spectrum
src/spectum_utils.py, the cropped generators and the distance src/metrics.py, the selection
src/train.py:88-136 and src/models.py:862-892, the SIREN settings configs/siren_best_omega.yaml and base.yaml.
"""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import wasserstein_distance

from bench.cli import main
from bench.core.errors import UsageError
from bench.models import Architecture, Member, MemberSpec, build_ensemble, parse_model
from bench.models.fresh import kept_frequencies, spectrum, wasserstein
from bench.models.siren import siren
from bench.tasks import load_task

OFFICIAL_OMEGAS = [10.0 * i for i in range(1, 21)]  # configs/siren_best_omega.yaml:9
OFFICIAL_CROP = 64  # selection_methods ["cropped_64"], siren_best_omega.yaml:16
OFFICIAL_EVALS = 10  # spectrum.initial_evals, configs/base.yaml:32


# ---- the official computations ----

def official_mask(n):
    """get_2d_fft_mask (src/spectum_utils.py:52-66): upper triangle, the first n // 2 entries of the diagonal
    below it, flipped left-right, then the first column below row n // 2 and the first row right of column
    n // 2 cleared."""
    n_unique = n // 2
    mask = torch.triu(torch.ones(n, n), diagonal=0)
    mask += torch.diag(torch.cat([torch.ones(n_unique), torch.zeros(n - 1 - n_unique)]), diagonal=-1)
    mask = mask.flip(1)
    mask[1 + n_unique:, 0] = 0
    mask[0, 1 + n_unique:] = 0
    return mask


def official_spectrum(y):
    """get_spectrum(resize_to_square(y))[:64] for a square image y [C, n, n] (float32): get_fft (spectum_utils.py:
    4-24) sums |fftn| over the channels; _spectrum_from_fft (27-36) masks it, flips it upside down and sums
    each diagonal k = -(n-1) .. n-1; get_spectrum (98-103) drops entry 0; metrics.py:43-47 keeps the first 64.
    resize_to_square (data_utils.py:79-96) returns a square image of at most 1024 as it is."""
    assert y.shape[1] == y.shape[2] <= 1024
    fft = torch.abs(torch.fft.fftn(y, dim=(1, 2))).sum(dim=0)
    n = fft.shape[0]
    flipped = torch.flip(torch.abs(fft) * official_mask(n), dims=[0])
    diagonals = torch.tensor([torch.sum(torch.diag(flipped, diagonal=k)) for k in range(-n + 1, n)])
    return diagonals[1:][:OFFICIAL_CROP]


def official_distance(gt_spectrum, out_spectrum):
    """get_wasserstein (metrics.py:90-93) of the normalised target spectrum (models.py:468-476) and the output's."""
    gt = gt_spectrum.numpy() / np.sum(gt_spectrum.numpy())
    return wasserstein_distance(u_values=np.arange(len(gt)), v_values=np.arange(len(gt)), u_weights=gt,
                                v_weights=out_spectrum.numpy())


def official_choice(gt_image, outputs):
    """prepare_best_model_config (train.py:96-124): per candidate the mean distance of its networks' outputs
    (calculate_initial_wasserstein_distance, models.py:876-892), then np.argmin over the candidates in order.
    outputs: {omega: images [networks, C, n, n]}. Returns the choice, its mean distance and every mean."""
    gt_spectrum = official_spectrum(gt_image)
    means = [np.mean([official_distance(gt_spectrum, official_spectrum(out)) for out in outs])
             for outs in outputs.values()]
    best = int(np.argmin(means))
    return list(outputs)[best], means[best], means


def siren_images(weights, biases, omegas, coords, shape):
    """The port's networks (siren's draws, docs/methods.md "Networks") in plain torch, weights [K, out, in] and
    biases [K, out] of K networks: sin(w (W h + b)) per hidden layer, then W h + b; each output [H * W, C] as an
    image [C, H, W] (models.py:757-758)."""
    h = coords.expand(weights[0].shape[0], -1, -1)
    for w, b, omega in zip(weights[:-1], biases[:-1], omegas):
        h = torch.sin(omega * (h @ w.transpose(1, 2) + b[:, None]))
    out = h @ weights[-1].transpose(1, 2) + biases[-1][:, None]
    return out.reshape(len(out), *shape, -1).movedim(-1, 1)


pytestmark = pytest.mark.usefixtures("one_thread")


# ---- targets ----

def sinusoids(frequencies, n=64, channels=1):
    """An n x n image in [-1, 1]: the mean of sin(2 pi (a row + b col) / n + phase) over (a, b) in frequencies."""
    rows, cols = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    rng = np.random.RandomState(0)
    image = np.zeros((n, n, channels))
    for a, b in frequencies:
        for c in range(channels):
            image[..., c] += np.sin(2 * np.pi * (a * rows + b * cols) / n + rng.uniform(0, 2 * np.pi))
    return image / len(frequencies)


def image_task(values):
    """A task fitting image values [H, W, C] on the whole pixel grid, loaded as load_task loads one."""
    from bench.signals.library import SignalLibrary
    from bench.tasks import seen_in_training
    from bench.tasks.image import image_task as make
    from dataclasses import replace
    task = make("image", "synthetic-test", values)
    return replace(task, info=replace(task.info, library=SignalLibrary(), **seen_in_training(task)))


def fresh_used(task, width=16, layers=2, params="", seeds=(0,)):
    spec = "fresh" + (":" + params if params else "")
    model, used = build_ensemble([MemberSpec(parse_model(spec), seed) for seed in seeds],
                                 Architecture(task.info.d_in, width, layers, task.info.d_out), task.info)
    return model, used


@pytest.fixture(scope="module")
def camera_48(library):
    return load_task("image:camera", library, {"side": 48})


# ---- (a) the spectrum and the distance ----

@pytest.mark.parametrize("n", [1, 2, 5, 8, 31, 32, 64, 65])
def test_kept_frequencies_are_the_official_mask(n):
    assert torch.equal(kept_frequencies(n), official_mask(n).bool())


def test_spectrum_and_distance_match_the_official_ones(camera_48):
    """On a made image of sinusoids (3 channels), on camera at 48 x 48 and on an odd side, ours against
    get_spectrum / get_wasserstein, with the output spectra of random networks as the second distribution."""
    made = torch.from_numpy(sinusoids([(1, 3), (5, 2), (9, 14)], n=64, channels=3)).float().movedim(-1, 0)
    camera = camera_48.target.reshape(48, 48, 1).movedim(-1, 0)
    odd = torch.rand(2, 33, 33, generator=torch.Generator().manual_seed(1)) * 2 - 1
    for image in (made, camera, odd):
        ours = spectrum(image[None].double(), 64)[0]
        theirs = official_spectrum(image)
        assert ours.shape == theirs.shape == (min(64, 2 * image.shape[-1] - 2),)
        torch.testing.assert_close(ours, theirs.double(), rtol=1e-5, atol=1e-6 * float(theirs.max()))  # float32 FFT
        others = torch.rand(3, *image.shape, generator=torch.Generator().manual_seed(2)).double()
        others = others + torch.linspace(0, 1, image.shape[-1]).double() * torch.arange(3.0).double()[:, None, None, None]
        ours_w = wasserstein(ours, spectrum(others, 64))
        theirs_w = [official_distance(theirs, official_spectrum(other.float())) for other in others]
        np.testing.assert_allclose(ours_w.numpy(), theirs_w, rtol=1e-5)
        assert len(set(np.round(theirs_w, 6))) == 3  # the three are told apart


def test_a_non_square_image_is_compared_at_its_shorter_side():
    """resize_to_square (data_utils.py:88-92): a 40 x 64 image is resized to 40 x 40 (bilinear, antialiased, as
    torchvision's tensor resize) before its spectrum; a square one is not touched."""
    image = torch.from_numpy(sinusoids([(2, 3), (7, 1)], n=64)).movedim(-1, 0)[None, :, :40, :]
    resized = torch.nn.functional.interpolate(image, size=(40, 40), mode="bilinear", align_corners=False,
                                              antialias=True)
    torch.testing.assert_close(spectrum(image, 64), spectrum(resized, 64))
    assert spectrum(image, 64).shape == (1, 64)


# ---- (b) the choice ----

@pytest.mark.parametrize("which", ["sinusoids", "camera"])
def test_the_choice_is_the_official_procedures(which, camera_48):
    """The official selection (official_choice) over the official candidates, given the outputs of the port's
    networks (siren's draws of seeds 0..9 at each candidate frequency, computed here in plain torch), chooses
    what fresh chooses, at the same mean distance."""
    task = image_task(sinusoids([(2, 1), (6, 9), (15, 4)])) if which == "sinusoids" else camera_48
    _, used = fresh_used(task, width=16, layers=2)
    n = task.info.grid[0]
    gt = task.target.reshape(n, n, -1).movedim(-1, 0)
    arch = Architecture(2, 16, 2, task.info.d_out)
    layers = arch.layers_of(parse_model("siren").entry.meta["plan"])
    members = []
    for seed in range(OFFICIAL_EVALS):
        members.append(Member(layers, seed, task.info))
        siren(members[-1], w0=30.0, w0_first=1.0)
    weights = [torch.stack([m.weights[i] for m in members]) for i in range(len(layers))]
    biases = [torch.stack([m.biases[i] for m in members]) for i in range(len(layers))]
    with torch.no_grad():
        outputs = {omega: siren_images(weights, biases, [omega, 30.0], task.coords, (n, n)) for omega in OFFICIAL_OMEGAS}
    chosen, distance, means = official_choice(gt, outputs)
    assert used[0]["w0_first"] == chosen
    assert used[0]["wasserstein"] == pytest.approx(distance, rel=1e-5)
    assert used[0] | {"w0_first": 0, "wasserstein": 0} == {"w0": 30.0, "w0_low": 10.0, "w0_high": 200.0, "w0_step": 10.0,
                                                          "inits": 10, "spectrum_crop": 64, "w0_first": 0, "wasserstein": 0}
    assert max(means) > 1.5 * min(means)  # the candidates are told apart


def test_the_choice_is_the_members_siren_and_independent_of_its_seed(camera_48):
    """Every seed gets the same w0_first, and the member is siren at that w0_first with its own seed."""
    model, used = fresh_used(camera_48, seeds=(0, 7))
    assert used[0]["w0_first"] == used[1]["w0_first"]
    reference, _ = build_ensemble([MemberSpec(parse_model(f"siren:w0_first={used[0]['w0_first']}"), s) for s in (0, 7)],
                                  Architecture(2, 16, 2, 1), camera_48.info)
    for ours, theirs in zip([*model.weights, *model.biases, model.omegas], [*reference.weights, *reference.biases,
                                                                            reference.omegas]):
        assert torch.equal(ours, theirs)


# ---- (c) a target with higher frequencies gets a larger omega ----

def test_higher_frequencies_get_a_larger_omega():
    smooth = image_task(sinusoids([(1, 0), (0, 2), (1, 1)]))
    sharp = image_task(sinusoids([(14, 3), (5, 17), (12, 12)]))
    low = fresh_used(smooth)[1][0]["w0_first"]
    high = fresh_used(sharp)[1][0]["w0_first"]
    assert low < high, (low, high)


def test_audio_takes_the_declared_candidates(relay_2k):
    """A clip: 1000 .. 20000 in steps of 1000 up to its Nyquist frequency (2048 samples on [-1, 1]: pi * 2047 / 2
    = 3215 rad per unit), the lowest quarter of its 1024 bins (ours: no official 1-D case); a given w0_high is
    taken as given."""
    _, used = fresh_used(relay_2k)
    assert used[0]["spectrum_crop"] == 256 and used[0]["w0_low"] == 1000.0
    assert used[0]["w0_high"] == pytest.approx(math.pi * 2047 / 2)
    assert used[0]["w0_first"] in (1000.0, 2000.0, 3000.0) and math.isfinite(used[0]["wasserstein"])
    _, given = fresh_used(relay_2k, params="w0_low=2000,w0_high=4000,w0_step=1000,inits=2,spectrum_crop=64")
    assert given[0]["w0_first"] in (2000.0, 3000.0, 4000.0) and given[0]["spectrum_crop"] == 64


# ---- (d) end to end ----

def test_bench_run_writes_the_chosen_frequency(capsys, tmp_path, need):
    need("camera")
    code = main(["run", "--model", "fresh", "--task", "image:camera", "--side", "32", "--width", "16", "--layers", "2",
                 "--steps", "5", "--seeds", "0", "--device", "cpu", "--no-progress", "--out", str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    row = pd.read_parquet(tmp_path).iloc[0]
    assert row["model"] == "fresh" and row["status"] == "ok" and math.isfinite(row["psnr_db"])
    assert row["param.w0_first"] in OFFICIAL_OMEGAS and row["param.wasserstein"] > 0


# ---- (e) no grid ----

def test_a_target_without_a_grid_is_refused_in_one_line(library):
    task = load_task("inpaint-image:camera", library, {"side": 32})  # a random half of the pixels
    assert task.info.grid is None
    with pytest.raises(UsageError, match=r"fresh needs the training points on a regular grid") as caught:
        fresh_used(task)
    assert "\n" not in str(caught.value) and "--stride" in str(caught.value)


def test_a_constant_target_is_refused_in_one_line():
    with pytest.raises(UsageError, match=r"a constant signal") as caught:
        fresh_used(image_task(np.full((16, 16, 1), 0.25)))
    assert "\n" not in str(caught.value) and "siren:w0_first" in str(caught.value)


def test_what_load_task_gives_the_init(library, relay_2k):
    """The grid of the training points: whole signals, a stride mask's kept sub-grid; none for gaps; no values
    for a derivative task."""
    image = load_task("image:camera", library, {"side": 32})
    assert image.info.grid == (32, 32) and image.info.values is image.target and image.info.coords is image.coords
    assert relay_2k.info.grid == (2048,)
    strided = load_task("inpaint-image:camera", library, {"side": 32, "stride": 3})
    assert strided.info.grid == (11, 11) and strided.info.values.shape == (121, 1)
    assert torch.equal(strided.info.coords.reshape(11, 11, 2)[0, :, 1], torch.linspace(-1, 1, 32)[::3])
    _, used = fresh_used(strided)
    assert used[0]["w0_first"] in OFFICIAL_OMEGAS
    gaps = load_task("inpaint-audio:relay", library, {"max_samples": 2048, "gaps": 2, "gap_length": 10})
    assert gaps.info.grid is None
    poisson = load_task("poisson-grad:camera", library, {"side": 32})
    assert poisson.info.values is None
    with pytest.raises(UsageError, match=r"fresh needs the target's values"):
        fresh_used(poisson)
