"""FreSh (Kania et al., ICLR 2025): SIREN whose first-layer frequency is the candidate whose untrained output's
spectrum lies nearest the target's, as docs/methods.md defines it.

Official code ``gmum/FreSh`` @ b148acf: the selection is ``prepare_best_model_config`` (src/train.py:88-136)
with ``calculate_initial_wasserstein_distance`` (src/models.py:862-892), the spectrum ``get_spectrum``
(src/spectum_utils.py:4-103) behind the ``cropped_64`` generator (src/metrics.py:39-47), the distance
``get_wasserstein`` (src/metrics.py:90-93); the SIREN settings are configs/siren_best_omega.yaml and base.yaml.
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from bench.core.errors import UsageError
from bench.core.registry import PositiveFloat, PositiveInt
from bench.models import Ensemble, Member, register_model
from bench.models.siren import siren

# Candidates per kind of signal. Images: 10, 20, ..., 200 (configs/siren_best_omega.yaml:9) and the spectrum
# cropped to its first 64 entries (selection method "cropped_64", siren_best_omega.yaml:16). Audio is ours (the
# official code has no 1-D signal): the image range times 100, as SIREN's audio w0_first 3000 is its image 30
# times 100, at most the clip's Nyquist frequency (a higher first-layer frequency aliases on its samples), and
# the spectrum cropped to the lowest quarter of the clip's frequency bins (AUDIO_CROP_FRACTION).
FRESH_DEFAULTS = {"image": {"w0_low": 10.0, "w0_high": 200.0, "w0_step": 10.0, "spectrum_crop": 64},
                  "audio": {"w0_low": 1000.0, "w0_high": 20000.0, "w0_step": 1000.0}}
AUDIO_CROP_FRACTION = 0.25  # of the N // 2 bins: what 64 keeps of a 512-pixel image's 256 bins per axis
INITS = 10  # random networks per candidate, their distances averaged (base.yaml:32 initial_evals)
MAX_SIDE = 1024  # larger images are resized to this side first (resize_to_square, src/data_utils.py:79-96)
CHUNK_FLOATS = 1 << 24  # activations per layer of one forward chunk (64 MiB of float32)

_searches: OrderedDict[str, tuple[float, float]] = OrderedDict()  # search key -> (chosen w0_first, distance)
_KEPT_SEARCHES = 32


@register_model()
def fresh(m: Member, w0: PositiveFloat = 30.0, w0_low: PositiveFloat | None = None,
          w0_high: PositiveFloat | None = None, w0_step: PositiveFloat | None = None, inits: PositiveInt = INITS,
          spectrum_crop: PositiveInt | None = None) -> dict:
    """FreSh (Kania et al. 2025): SIREN at the w0_first whose output spectrum at init is nearest the target's."""
    values, coords, grid = _training_view(m)
    low = m.default(FRESH_DEFAULTS, "w0_low") if w0_low is None else w0_low
    high = m.default(FRESH_DEFAULTS, "w0_high") if w0_high is None else w0_high
    if w0_high is None and len(grid) == 1:
        high = max(low, min(high, nyquist(coords)))
    step = m.default(FRESH_DEFAULTS, "w0_step") if w0_step is None else w0_step
    crop = spectrum_crop
    if crop is None:
        crop = (m.default(FRESH_DEFAULTS, "spectrum_crop") if len(grid) == 2
                else max(1, int(AUDIO_CROP_FRACTION * (grid[0] // 2))))
    chosen, distance = search(m, values, coords, grid, candidates(low, high, step), w0, inits, crop)
    used = siren(m, w0=w0, w0_first=chosen)
    return used | {"wasserstein": distance, "w0_low": low, "w0_high": high, "w0_step": step, "spectrum_crop": crop}


def nyquist(coords: Tensor) -> float:
    """The highest angular frequency (radians per unit of the coordinate) that samples at coords [N, 1], evenly
    spaced, represent: pi over their spacing."""
    span = float(coords.max() - coords.min())
    return math.pi * (len(coords) - 1) / span if span > 0 and len(coords) > 1 else math.inf


def candidates(low: float, high: float, step: float) -> list[float]:
    """low, low + step, ... up to high (included when it falls on the steps), in that order."""
    if low > high:
        raise UsageError(f"fresh: w0_low {low:g} is above w0_high {high:g}; give w0_low <= w0_high")
    count = int(math.floor((high - low) / step + 1e-9)) + 1
    if count > 1000:
        raise UsageError(f"fresh: {count} candidate frequencies from {low:g} to {high:g} in steps of {step:g}; "
                         f"give at most 1000 (a larger w0_step)")
    return [low + i * step for i in range(count)]


def _training_view(m: Member) -> tuple[Tensor, Tensor, tuple[int, ...]]:
    """The target [N, d_out], the points [N, d_in] and the grid they lie on, or the one-line refusal."""
    info = m.signal
    if info.values is None or info.coords is None:
        raise UsageError("fresh needs the target's values (SignalInfo.values), which this task does not give the init "
                         "(its loss matches a derivative of the output, or the signal was not loaded by load_task); "
                         "use siren:w0_first=VALUE instead")
    if info.grid is None:
        raise UsageError("fresh needs the training points on a regular grid (it compares FFT spectra), and this "
                         "task's lie on none (a random mask, gaps, or a shape's samples); train on the whole signal "
                         "or a --stride mask, or use siren:w0_first=VALUE")
    if len(info.grid) not in (1, 2):
        raise UsageError(f"fresh compares spectra of clips and images (1-D and 2-D grids), not of a "
                         f"{len(info.grid)}-D grid; use siren:w0_first=VALUE")
    values = torch.as_tensor(info.values).detach().cpu().float()
    coords = torch.as_tensor(info.coords).detach().cpu().float()
    return values, coords, tuple(int(n) for n in info.grid)


def search(m: Member, values: Tensor, coords: Tensor, grid: tuple[int, ...], omegas: list[float], w0: float,
           inits: int, crop: int) -> tuple[float, float]:
    """FreSh's choice among ``omegas``: (w0_first, its mean distance). Each candidate is scored by the mean, over
    ``inits`` networks, of the Wasserstein distance between the target's spectrum and the network's output
    spectrum at init (src/models.py:877-892); the lowest mean wins, the first candidate on ties (np.argmin,
    src/train.py:123). The networks are this member's SIREN (its plan, ``w0``) drawn as siren's seeds 0 ..
    inits - 1 draw them, the same draws for every candidate (the official code reseeds before each
    candidate, train.py:97, and the frequency changes no draw); so the choice depends on the target and the
    architecture alone, never on the member's seed. Searches are remembered in this process (every seed of
    a run asks the same question)."""
    key = _search_key(m, values, coords, grid, omegas, w0, inits, crop)
    if key not in _searches:
        _searches[key] = _search(m, values, coords, grid, omegas, w0, inits, crop)
        while len(_searches) > _KEPT_SEARCHES:
            _searches.popitem(last=False)
    return _searches[key]


def _search_key(m: Member, values: Tensor, coords: Tensor, grid: tuple[int, ...], *settings) -> str:
    digest = hashlib.sha256()
    for tensor in (values, coords):
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.contiguous().numpy().tobytes())
    plan = [(layer.fan_in, layer.fan_out, getattr(layer.activation, "__qualname__", repr(layer.activation)))
            for layer in m.layers]
    digest.update(repr((grid, plan, settings)).encode())
    return digest.hexdigest()


@torch.no_grad()
def _search(m: Member, values: Tensor, coords: Tensor, grid: tuple[int, ...], omegas: list[float], w0: float,
            inits: int, crop: int) -> tuple[float, float]:
    target = spectrum(_channels_first(values[None], grid), crop)[0]
    if not target.sum() > 0:
        raise UsageError("fresh compares the target's spectrum beyond its mean, and this target has none (a constant "
                         "signal); use siren:w0_first=VALUE")
    members = []
    for seed in range(inits):
        member = Member(m.layers, seed, m.signal)
        siren(member, w0=w0, w0_first=omegas[0])
        members.append(member)
    ensemble = Ensemble(members, m.layers)
    width = max(layer.fan_out for layer in m.layers)
    chunk = max(1, CHUNK_FLOATS // (inits * width))
    means = []
    # one candidate at a time, its inits batched: all candidates at once would hold candidates x inits copies of
    # the network's weights and activations for the same arithmetic
    for omega in omegas:
        ensemble.omegas[0] = omega
        out = torch.cat([ensemble(coords[start:start + chunk]) for start in range(0, len(coords), chunk)], dim=1)
        means.append(wasserstein(target, spectrum(_channels_first(out, grid), crop)).mean().item())
    means = np.nan_to_num(np.array(means), nan=np.inf)  # a constant output has no spectrum to compare
    best = int(np.argmin(means))
    return float(omegas[best]), float(means[best])


def _channels_first(values: Tensor, grid: tuple[int, ...]) -> Tensor:
    """[K, N, C] values on ``grid`` as [K, C, *grid] in float64."""
    return values.double().reshape(values.shape[0], *grid, values.shape[-1]).movedim(-1, 1)


def spectrum(signals: Tensor, crop: int) -> Tensor:
    """FreSh's spectra [K, <= crop] of signals [K, C, H, W] (images) or [K, C, N] (clips), before normalising.

    Images (src/spectum_utils.py:4-103, behind metrics.py:39-47): made square (``square``), then the DFT's
    magnitudes summed over the channels; of the frequencies (r, c), 0 <= r, c < n, those that the official
    mask keeps (``kept_frequencies``) are added up by r + c, one entry per anti-diagonal; entry 0 (the mean)
    is dropped and the first ``crop`` entries kept. Clips (ours): the DFT's magnitudes summed over the
    channels at bins 1 .. N // 2 (those a real signal does not repeat), the first ``crop`` of them."""
    if signals.dim() == 3:
        magnitudes = torch.fft.fft(signals, dim=-1).abs().sum(dim=1)
        return magnitudes[:, 1:signals.shape[-1] // 2 + 1][:, :crop]
    signals = square(signals)
    n = signals.shape[-1]
    magnitudes = torch.fft.fft2(signals).abs().sum(dim=1)  # [K, n, n]
    rows, cols = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    kept = kept_frequencies(n).to(magnitudes.dtype)
    sums = torch.zeros(signals.shape[0], 2 * n - 1, dtype=magnitudes.dtype)
    sums.index_add_(1, (rows + cols).reshape(-1), (magnitudes * kept).reshape(signals.shape[0], -1))
    return sums[:, 1:][:, :crop]


def kept_frequencies(n: int) -> Tensor:
    """The official mask of an n x n DFT (get_2d_fft_mask, src/spectum_utils.py:52-66, flipped left-right as it
    is used): (r, c) with r + c < n, and r + c = n for 1 <= r <= n // 2, less the first row's and first
    column's entries beyond n // 2. [n, n] bool."""
    r, c = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    diagonal = r + c
    kept = (diagonal < n) | ((diagonal == n) & (r >= 1) & (r <= n // 2))
    return kept & ~((c == 0) & (r > n // 2)) & ~((r == 0) & (c > n // 2))


def square(images: Tensor) -> Tensor:
    """resize_to_square (src/data_utils.py:79-96) with side None: a square image of at most MAX_SIDE as it is,
    else a bilinear, antialiased resize to its shorter side (at most MAX_SIDE), as torchvision's ``resize``
    computes it on tensors."""
    height, width = images.shape[-2:]
    if height == width and height <= MAX_SIDE:
        return images
    side = min(height, width, MAX_SIDE)
    return F.interpolate(images, size=(side, side), mode="bilinear", align_corners=False, antialias=True)


def wasserstein(target: Tensor, spectra: Tensor) -> Tensor:
    """The 1-Wasserstein distances [K] between the target's spectrum [L] and spectra [K, L], each normalised to
    sum 1, as distributions over the indices 0 .. L-1 (scipy.stats.wasserstein_distance with u_values =
    v_values = arange(L), src/metrics.py:90-93): the summed absolute difference of their cumulative sums."""
    u = target / target.sum()
    v = spectra / spectra.sum(dim=-1, keepdim=True)
    return (u.cumsum(-1) - v.cumsum(-1))[..., :-1].abs().sum(dim=-1)
