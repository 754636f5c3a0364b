"""TUNER (Novello et al., "Tuning the Frequencies: Robust Training for Sinusoidal Neural Networks", CVPR 2025,
arXiv 2407.21121), ported to 1-D and 2-D inputs: a frozen first layer of integer frequencies, and the first
hidden layer's weights bounded during training, column by column, by how high the frequency they read is.
Checked against the official code (DianaPat/TUNER @ 3a08967: networks/mrnet.py, utils.py create_clamps,
training/optimizers.py); what the port decides that the 2-D code does not is in docs/methods.md."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch

from bench.core.errors import UsageError
from bench.models import Layer, Member, register_model, sine
from bench.core.registry import PositiveFloat, PositiveInt

# Band limit B (the largest |k| of an integer frequency k) per kind of signal. Audio: SIREN's first-layer
# reach, 3000 rad per unit, at period 4 (k pi/2 = 3000); images: the official config's omega_0 = 85.
TUNER_DEFAULTS = {"audio": {"bandlimit": 1910}, "image": {"bandlimit": 85}}
HIDDEN_INIT_SCALE = 0.3  # layer 1, column j ~ N(0, (0.3 c_j / w0)^2) (official Initializer)
MAX_INPUTS = 3  # the integer lattice is enumerated: up to 3-D inputs
MAX_LATTICE = 2 * 10**7  # integer vectors enumerated at most (a few hundred MB, a few seconds)


@dataclass(frozen=True)
class TunerPlan:
    """A frozen sine layer of integer frequencies (omega 1), then sine layers and a linear output."""

    def __call__(self, d_in: int, width: int, layers: int, d_out: int) -> list[Layer]:
        return ([Layer(d_in, width, sine, trainable=False)] + [Layer(width, width, sine)] * (layers - 1)
                + [Layer(width, d_out, None)])


@functools.lru_cache(maxsize=32)  # every member of a run asks for the same frequencies
def integer_frequencies(d: int, count: int, low: int, bandlimit: int) -> torch.Tensor:
    """``count`` distinct integer vectors k [count, d], one per direction (k and -k give the same sines up to
    phase, so the first non-zero coordinate is positive; k = 0 is left out): every one with max |k_i| <= low
    first (by that norm, then lexicographically), then the rest evenly spaced along the ones with
    low < max |k_i| <= bandlimit in the same order. The lattice is enumerated whole (numpy), so it is
    capped at MAX_LATTICE points."""
    if d > MAX_INPUTS:
        raise UsageError(f"tuner enumerates integer frequencies for up to {MAX_INPUTS}-D inputs, not {d}-D")
    if (2 * bandlimit + 1) ** d > MAX_LATTICE:
        largest = int((MAX_LATTICE ** (1 / d) - 1) // 2)
        raise UsageError(f"tuner: bandlimit {bandlimit} makes a {d}-D lattice of {(2 * bandlimit + 1) ** d:,} integer "
                         f"vectors to choose from, over the {MAX_LATTICE:,} enumerated; give bandlimit <= {largest}")
    span = np.arange(-bandlimit, bandlimit + 1)
    lattice = np.stack(np.meshgrid(*[span] * d, indexing="ij"), axis=-1).reshape(-1, d)
    nonzero = lattice != 0
    leading = lattice[np.arange(len(lattice)), nonzero.argmax(axis=1)]
    candidates = lattice[nonzero.any(axis=1) & (leading > 0)]
    norms = np.abs(candidates).max(axis=1)
    order = np.lexsort([candidates[:, i] for i in reversed(range(d))] + [norms])  # by norm, then k_0, k_1, ...
    candidates, norms = candidates[order], norms[order]
    low_count = int((norms <= low).sum())
    if count <= low_count:
        chosen = candidates[:count]
    else:
        wanted = count - low_count
        if wanted > len(candidates) - low_count:
            raise UsageError(f"tuner: {count} first-layer units need {count} distinct frequencies, but band limit "
                             f"{bandlimit} holds {len(candidates)}; raise bandlimit or narrow the network")
        picks = low_count + torch.linspace(0, len(candidates) - low_count - 1, wanted).round().long().numpy()
        chosen = np.concatenate([candidates[:low_count], candidates[picks]])
    return torch.tensor(chosen, dtype=torch.float32)


@register_model(plan=TunerPlan())
def tuner(m: Member, period: PositiveFloat = 4.0, low: PositiveInt = 10, bandlimit: PositiveInt | None = None,
          c_low: PositiveFloat = 1.0, c_high: PositiveFloat = 0.6, c_deep: PositiveFloat = 1.0,
          w0: PositiveFloat = 30.0) -> dict:
    """TUNER (Novello et al. 2025): frozen integer first-layer frequencies (2 pi / period) k up to bandlimit
    (auto = 1910 audio, 85 images), first hidden layer bounded per column by c_low / w0 (max |k_i| <= low) or
    c_high / w0 during training, deeper hidden layers by c_deep / w0."""
    if len(m.weights) < 3:
        raise UsageError("tuner needs at least 2 hidden layers (--layers 2): the first holds the frozen frequencies, "
                         "the second the bounded weights that read them; the output layer stays free")
    bandlimit = int(m.default(TUNER_DEFAULTS, "bandlimit")) if bandlimit is None else bandlimit
    if low > bandlimit:
        raise UsageError(f"tuner: low = {low} exceeds bandlimit = {bandlimit}; the low band lies within the band limit")
    k = integer_frequencies(m.weights[0].shape[1], m.weights[0].shape[0], low, bandlimit)
    m.weights[0] = 2 * math.pi / period * k
    m.omegas = [1.0] + [w0] * (len(m.omegas) - 1)
    columns = torch.where(k.abs().amax(dim=1) <= low, c_low, c_high)[None, :] / w0  # [1, width]: c_j / w0
    m.weights[1] = m.normal(m.weights[1].shape, 1.0) * HIDDEN_INIT_SCALE * columns
    m.keep_within(1, columns)
    for i in range(2, len(m.weights)):
        fan_in = m.weights[i].shape[1]
        m.weights[i] = m.uniform(m.weights[i].shape, math.sqrt(6.0 / fan_in) / w0)
        if i < len(m.weights) - 1:  # hidden layers; the output layer is free
            m.keep_within(i, c_deep / w0)
    return {"bandlimit": bandlimit}
