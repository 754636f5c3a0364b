"""TUNER (Novello et al., "Tuning the Frequencies: Robust Training for Sinusoidal Neural Networks", CVPR 2025,
arXiv 2407.21121) as its authors run it, DianaPat/TUNER @ 3a08967 ``train_mrnet.py``: a first sine layer of
integer frequency vectors k (weights frozen, bias trained), crossed from two 1-D lists, by default
train_mrnet.py's low list 0..7 and high list 0..156 in steps of 13 on images; the first hidden matrix drawn
column by column by how high the frequency it reads is, and clamped to one bound after every step.
What the port decides that the official 2-D code does not (1-D audio lists, deeper hidden layers) is declared
in docs/methods.md with the official file and line of everything else."""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch

from bench.core.errors import UsageError
from bench.models import Layer, Member, register_model, sine
from bench.core.registry import PositiveFloat, PositiveInt

# The high list's top (bandlimit) and step per kind of signal. Images: train_mrnet.py's 0, 13, ..., 156.
# Audio (this port's setting; the official code is 2-D only): SIREN's first-layer reach, 3000 rad per unit,
# at period 4 (k pi / 2 = 3000), the step left auto (the largest that fills the width, ``filling_step``).
TUNER_DEFAULTS = {"audio": {"bandlimit": 1910}, "image": {"bandlimit": 156, "step": 13}}
HIDDEN_INIT_SCALE = 0.3  # layer 1, column j ~ N(0, (0.3 c_j / w0)^2) (official Initializer)


@dataclass(frozen=True)
class TunerPlan:
    """A sine layer of integer frequencies (omega 1; weights frozen, bias trained), then sine layers and a
    linear output."""

    def __call__(self, d_in: int, width: int, layers: int, d_out: int) -> list[Layer]:
        return ([Layer(d_in, width, sine, train_weights=False)] + [Layer(width, width, sine)] * (layers - 1)
                + [Layer(width, d_out, None)])


def crossed(values: Iterable[int], d: int) -> Iterator[tuple[int, ...]]:
    """The d-D integer vectors a 1-D list of non-negative integers (0 included) crosses into, in order: every
    d-tuple over the list followed by its negatives (0 therefore twice, so a vector with a 0 coordinate comes
    twice), in itertools.product order, keeping of k and -k the one whose first non-zero coordinate is
    positive (k = 0 left out)."""
    values = list(values)
    signed = values + [-v for v in values]
    for k in itertools.product(signed, repeat=d):
        if next((c for c in k if c != 0), 0) > 0:
            yield k


def crossed_count(length: int, d: int) -> int:
    """How many vectors ``crossed`` yields for a list of ``length`` distinct values, 0 among them: the
    (2 length)^d tuples less the 2^d zero ones, halved."""
    return ((2 * length) ** d - 2**d) // 2


def filling_step(d: int, count: int, low: int, bandlimit: int) -> int:
    """The largest step s at which the lists 0..low and 0, s, ..., <= bandlimit cross into the count - d
    vectors a first layer of ``count`` units takes (1 when none does; ``integer_frequencies`` then refuses)."""
    needed = count - d - crossed_count(low + 1, d)
    return next((s for s in range(bandlimit, 0, -1) if crossed_count(bandlimit // s + 1, d) >= needed), 1)


@functools.lru_cache(maxsize=32)  # every member of a run asks for the same frequencies
def integer_frequencies(d: int, count: int, low: int, step: int, bandlimit: int) -> torch.Tensor:
    """The first layer's integer frequency vectors k [count, d]: the low list 0..low crossed (``crossed``),
    then the high list 0, step, ..., <= bandlimit crossed, cut to the first count - d, then the d unit
    vectors; a layer wider than the lists give is refused (the official code cannot build one)."""
    if count < d:
        raise UsageError(f"tuner: a first layer of {count} units cannot hold the {d} unit frequency vectors of a "
                         f"{d}-D input; give a width of at least {d}")
    lists = itertools.chain(crossed(range(0, low + 1), d), crossed(range(0, bandlimit + 1, step), d))
    rows = list(itertools.islice(lists, count - d))
    if len(rows) < count - d:
        raise UsageError(f"tuner: a first layer of {count} units takes {count - d} crossed frequency vectors, but "
                         f"the lists 0..{low} and 0..{bandlimit} in steps of {step} cross into {len(rows)} in {d}-D; "
                         f"narrow the network, or raise low or bandlimit, or lower step")
    return torch.cat([torch.tensor(rows, dtype=torch.float32).reshape(-1, d), torch.eye(d)])


@register_model(plan=TunerPlan())
def tuner(m: Member, period: PositiveFloat = 4.0, low: PositiveInt = 7, step: PositiveInt | None = None,
          bandlimit: PositiveInt | None = None, block_limit: PositiveInt = 10, c_low: PositiveFloat = 1.0,
          c_high: PositiveFloat = 0.4, c_deep: PositiveFloat = 1.0, w0: PositiveFloat = 30.0) -> dict:
    """TUNER (Novello et al. 2025): frozen k from train_mrnet.py's lists 0..7, 0..156 step 13 (audio: to 1910).

    As train_mrnet.py runs it: first-layer weights (2 pi / period) k frozen, its bias trained, k crossed from the
    lists 0..low and 0..bandlimit in steps of step (auto: train_mrnet.py's 0..7 and 0..156 step 13 on images;
    on audio, this port's 0..1910 in the largest step that fills the width); first hidden matrix column j
    ~ N(0, (0.3 c_j / w0)^2), c_j = c_low (max |k_i| <= block_limit) or c_high, the whole matrix clamped to
    c_high / w0 after every step; deeper hidden layers clamped to c_deep / w0."""
    if len(m.weights) < 3:
        raise UsageError("tuner needs at least 2 hidden layers (--layers 2): the first holds the frozen frequencies, "
                         "the second the bounded weights that read them; the output layer stays free")
    d, width = m.weights[0].shape[1], m.weights[0].shape[0]
    bandlimit = int(m.default(TUNER_DEFAULTS, "bandlimit")) if bandlimit is None else bandlimit
    if step is None:
        step = TUNER_DEFAULTS.get(m.signal.domain, {}).get("step") or filling_step(d, width, low, bandlimit)
    k = integer_frequencies(d, width, low, step, bandlimit)
    m.weights[0] = 2 * math.pi / period * k
    m.omegas = [1.0] + [w0] * (len(m.omegas) - 1)
    columns = torch.where(k.abs().amax(dim=1) <= block_limit, c_low, c_high)[None, :] / w0  # [1, width]: c_j / w0
    m.weights[1] = m.normal(m.weights[1].shape, 1.0) * HIDDEN_INIT_SCALE * columns
    m.keep_within(1, c_high / w0)
    for i in range(2, len(m.weights)):
        fan_in = m.weights[i].shape[1]
        m.weights[i] = m.uniform(m.weights[i].shape, math.sqrt(6.0 / fan_in) / w0)
        if i < len(m.weights) - 1:  # hidden layers; the output layer is free
            m.keep_within(i, c_deep / w0)
    return {"low": low, "step": step, "bandlimit": bandlimit}
