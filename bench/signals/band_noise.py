"""Noise with a controlled spectrum: ``synthetic:band(centroid=C, bandwidth=B, floor=F, seed=S)``.

A raised-cosine band of full width at half maximum ``bandwidth`` (in units of the Nyquist frequency), with
``floor`` (0..1, relative to the band's peak) the amplitude of every frequency below the band, random
phases from ``seed``, and the band's position solved so that the target as trained has spectral centroid
``centroid`` (docs/methods.md's psi: clips divided by their peak; images mapped to [-1, 1] by their range,
the raster's one-dimensional FFT). The spectrum is laid on a grid twice the signal's length per axis and
the signal is the first half (quarter) of its inverse DFT, so that it is not periodic over the domain.
1-D clips are generated at the length fitted, images at their side; the solver measures the centroid of
the crop, range mapping included.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields

import numpy as np
from scipy.optimize import brentq

from bench.core.errors import UsageError
from bench.core.metrics import spectral_centroid

NAME = "band"
CENTROID_TOLERANCE = 0.02  # relative: a made signal's centroid is within 2% of the one asked for, or refused
MAX_VALUES = 2**25  # values of the doubled grid a band-noise signal is cut from: 256 MiB of float64
MAX_SEED = 2**63 - 1
_CALL = re.compile(r"^band\((.*)\)$")


@dataclass(frozen=True)
class Band:
    """The parameters of one band-noise signal (see the module docstring)."""

    centroid: float
    bandwidth: float = 0.1
    floor: float = 0.0
    seed: int = 0

    def __post_init__(self):
        checks = [(0 < self.centroid < 1, "centroid must lie in (0, 1), 1 = Nyquist"),
                  (0 < self.bandwidth <= 1, "bandwidth must lie in (0, 1]"),
                  (0 <= self.floor <= 1, "floor must lie in [0, 1] (relative to the band's peak)"),
                  (self.seed >= 0, "seed must be >= 0")]
        for ok, message in checks:
            if not ok:
                raise UsageError(f"synthetic:{self.name}: {message}")

    @property
    def name(self) -> str:
        """The canonical name: every parameter, in declaration order, each number written so that it reads
        back exactly (one signal, one name, one cell)."""
        return f"{NAME}(" + ",".join(f"{f.name}={_exact(getattr(self, f.name))}" for f in fields(self)) + ")"

    def amplitude(self, radius: np.ndarray, center: float) -> np.ndarray:
        """Designed magnitude at radial frequency ``radius`` (1 = Nyquist) for a band centred at ``center``."""
        half = self.bandwidth  # a raised cosine of this half-support has this full width at half maximum
        bump = np.where(np.abs(radius - center) < half, np.cos(math.pi / 2 * (radius - center) / half) ** 2, 0.0)
        lows = np.where(radius < center, self.floor, 0.0)
        return np.where((radius > 0) & (radius <= 1), np.maximum(bump, lows), 0.0)  # nothing at DC

    def generate(self, shape: tuple[int, ...]) -> np.ndarray:
        """The signal [n] or [H, W], float64, with the band placed so that its target's centroid is ``centroid``
        (within CENTROID_TOLERANCE, else a usage error: short signals have too few frequencies to place it)."""
        size = math.prod(shape)
        if size * 2 ** len(shape) > MAX_VALUES:
            raise UsageError(f"synthetic:{self.name}: {size:,} values is over the {MAX_VALUES // 2 ** len(shape):,} "
                             f"band noise is made with in {len(shape)}-D; ask for fewer samples or a smaller side")
        rng = np.random.default_rng(self.seed)
        # made on a grid twice as long per axis, then cropped: an inverse DFT over the signal's own grid would
        # be periodic over the domain (its end joining its start), which no recorded signal is
        whole = tuple(2 * n for n in shape)
        grids = np.meshgrid(*[np.fft.fftfreq(n) for n in whole[:-1]], np.fft.rfftfreq(whole[-1]), indexing="ij")
        radius = np.sqrt(sum(g**2 for g in grids)) / 0.5
        phases = np.exp(2j * math.pi * rng.random(radius.shape))
        crop = tuple(slice(0, n) for n in shape)

        def signal(center: float) -> np.ndarray:
            return np.fft.irfftn(self.amplitude(radius, center) * phases, s=whole, axes=range(len(shape)))[crop]

        def miss(center: float) -> float:
            return as_target(signal(center)) - self.centroid

        # the band's centre on a coarse grid first: a short signal has no frequency under a band centred
        # low (no signal there), so the bracket is taken between the first centres that make one
        centres = np.linspace(1e-4, 1.0, 41)
        misses = np.array([miss(c) for c in centres])
        size = f"a {shape[0]:,}-sample clip" if len(shape) == 1 else f"a {'x'.join(map(str, shape))} image"
        where = f"for {size} with bandwidth {self.bandwidth:g} and floor {self.floor:g}"
        made_any = np.isfinite(misses)
        spacing = 1 / max(shape)  # the frequency grid's spacing along the longest axis, 1 = Nyquist
        if self.bandwidth < spacing and len(np.unique(misses[made_any])) < 2:  # one centroid made, or none
            raise UsageError(f"synthetic:{self.name}: bandwidth {self.bandwidth:g} is narrower than the spacing of "
                             f"the frequencies of {size} ({spacing:.3g} of Nyquist), so the band holds at most one "
                             f"of them wherever it lies; use bandwidth >= {spacing:.3g}")
        if not made_any.any():
            raise UsageError(f"synthetic:{self.name}: centroid {self.centroid:g} cannot be placed {where} (too few "
                             f"frequencies); use a longer clip or a larger side")
        crossing = np.flatnonzero(made_any[:-1] & made_any[1:] & (np.sign(misses[:-1]) != np.sign(misses[1:])))
        reach = misses[made_any] + self.centroid
        if not len(crossing) and reach.min() <= self.centroid <= reach.max():  # it jumps over: too few frequencies
            nearest = reach[np.abs(reach - self.centroid).argmin()]
            raise UsageError(f"synthetic:{self.name}: centroid {self.centroid:g} cannot be placed {where} (the "
                             f"nearest made is {nearest:.3f}: too few frequencies); use a longer clip or a larger side")
        if not len(crossing):
            raise UsageError(f"synthetic:{self.name}: centroid {self.centroid:g} is out of reach {where} "
                             f"(reachable: {reach.min():.3f} to {reach.max():.3f}); ask for a centroid in that range, or "
                             f"change the bandwidth, the floor or the length")
        low, high = centres[crossing[0]], centres[crossing[0] + 1]
        made = signal(brentq(miss, low, high, xtol=1e-9))
        measured = as_target(made)
        if not abs(measured - self.centroid) <= CENTROID_TOLERANCE * self.centroid:  # NaN fails too
            raise UsageError(f"synthetic:{self.name}: centroid {self.centroid:g} cannot be placed {where} (the "
                             f"nearest made is {measured:.3f}: too few frequencies); use a longer clip or a larger side")
        return made


def as_target(x: np.ndarray) -> float:
    """psi of x as a task trains on it: a clip divided by its peak, an image mapped to [-1, 1] by its range
    (NaN for a constant signal, which has no band)."""
    spread = np.abs(x).max() if x.ndim == 1 else np.ptp(x)
    if not spread > 0:
        return math.nan
    if x.ndim == 1:
        return spectral_centroid((x / spread)[:, None])
    return spectral_centroid((((x - x.min()) / spread) * 2 - 1).reshape(-1, 1))


def _exact(value: float | int) -> str:
    """A parameter as the canonical name writes it: an integer as one, a float as its shortest exact form."""
    return str(value) if isinstance(value, int) else repr(float(value)).removesuffix(".0")


def parse(name: str) -> Band | None:
    """``band(key=value, ...)`` as a Band; None for any other name; a malformed call is a usage error."""
    found = _CALL.match(name.replace(" ", ""))
    if found is None:
        return None
    known = {f.name: f.type for f in fields(Band)}
    values: dict[str, float | int] = {}
    for part in filter(None, found.group(1).split(",")):
        key, sep, value = part.partition("=")
        if not sep or key not in known:
            raise UsageError(f"synthetic:{name}: {part!r} is not KEY=VALUE with KEY one of {', '.join(known)}")
        if key in values:
            raise UsageError(f"synthetic:{name}: {key} is given twice; give it once")
        try:
            number = float(value)
        except ValueError:
            raise UsageError(f"synthetic:{name}: {key}={value!r} is not a number") from None
        if not math.isfinite(number):
            raise UsageError(f"synthetic:{name}: {key}={value!r} is not a finite number")
        if key == "seed":
            exact = int(value) if value.lstrip("+-").isdigit() else int(number) if number.is_integer() else None
            if exact is None or exact > MAX_SEED:
                raise UsageError(f"synthetic:{name}: seed={value!r} is not an integer from 0 to {MAX_SEED}")
            values[key] = exact
        else:
            values[key] = number
    if "centroid" not in values:
        raise UsageError(f"synthetic:{name}: give centroid=C (0 < C < 1, 1 = Nyquist), e.g. band(centroid=0.3)")
    return Band(**values)


USAGE = "band(centroid=C, bandwidth=0.1, floor=0, seed=0)"
