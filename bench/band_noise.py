"""Noise with a controlled spectrum: ``synthetic:band(centroid=C, bandwidth=B, floor=F, seed=S)``.

A raised-cosine band of full width at half maximum ``bandwidth`` (in units of the Nyquist frequency), with
``floor`` (0..1, relative to the band's peak) the amplitude of every frequency below the band, random
phases from ``seed``, and the band's position solved so that the target as trained has spectral centroid
``centroid`` (docs/methods.md's psi: clips divided by their peak; images mapped to [-1, 1] by their range,
the raster's one-dimensional FFT). 1-D clips are generated at the length fitted, images at their side.
Magnitudes are the designed ones exactly in 1-D, so a clip's centroid is the requested one to the solver's
tolerance; in 2-D the range mapping adds a DC term, which the solver counts.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields

import numpy as np
from scipy.optimize import brentq

from bench.errors import UsageError
from bench.metrics import spectral_centroid

NAME = "band"
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
        """The canonical name: every parameter, in declaration order (one signal, one name, one cell)."""
        return f"{NAME}(" + ",".join(f"{f.name}={getattr(self, f.name):g}" for f in fields(self)) + ")"

    def amplitude(self, radius: np.ndarray, center: float) -> np.ndarray:
        """Designed magnitude at radial frequency ``radius`` (1 = Nyquist) for a band centred at ``center``."""
        half = self.bandwidth  # a raised cosine of this half-support has this full width at half maximum
        bump = np.where(np.abs(radius - center) < half, np.cos(math.pi / 2 * (radius - center) / half) ** 2, 0.0)
        lows = np.where((radius > 0) & (radius < center), self.floor, 0.0)
        return np.where(radius <= 1, np.maximum(bump, lows), 0.0)

    def generate(self, shape: tuple[int, ...]) -> np.ndarray:
        """The signal [n] or [H, W], float64, with the band placed so that its target's centroid is ``centroid``."""
        rng = np.random.default_rng(self.seed)
        grids = np.meshgrid(*[np.fft.fftfreq(n) for n in shape[:-1]], np.fft.rfftfreq(shape[-1]), indexing="ij")
        radius = np.sqrt(sum(g**2 for g in grids)) / 0.5
        phases = np.exp(2j * math.pi * rng.random(radius.shape))

        def signal(center: float) -> np.ndarray:
            return np.fft.irfftn(self.amplitude(radius, center) * phases, s=shape, axes=range(len(shape)))

        def miss(center: float) -> float:
            return as_target(signal(center)) - self.centroid

        low, high = 1e-4, 1.0
        reach = (miss(low) + self.centroid, miss(high) + self.centroid)
        if not reach[0] <= self.centroid <= reach[1]:
            raise UsageError(f"synthetic:{self.name}: centroid {self.centroid:g} is out of reach for a "
                             f"{'x'.join(map(str, shape))} signal with bandwidth {self.bandwidth:g} and floor "
                             f"{self.floor:g} (reachable: {reach[0]:.3f} to {reach[1]:.3f}); change one of them")
        return signal(brentq(miss, low, high, xtol=1e-9))


def as_target(x: np.ndarray) -> float:
    """psi of x as a task trains on it: a clip divided by its peak, an image mapped to [-1, 1] by its range."""
    if x.ndim == 1:
        return spectral_centroid((x / np.abs(x).max())[:, None])
    unit = (x - x.min()) / np.ptp(x)
    return spectral_centroid((unit * 2 - 1).reshape(-1, 1))


def parse(name: str) -> Band | None:
    """``band(key=value, ...)`` as a Band; None for any other name; a malformed call is a usage error."""
    found = _CALL.match(name.replace(" ", ""))
    if found is None:
        return None
    known = {f.name: f.type for f in fields(Band)}
    values = {}
    for part in filter(None, found.group(1).split(",")):
        key, sep, value = part.partition("=")
        if not sep or key not in known:
            raise UsageError(f"synthetic:{name}: {part!r} is not KEY=VALUE with KEY one of {', '.join(known)}")
        try:
            number = float(value)
            values[key] = int(number) if key == "seed" and number == int(number) else number
        except ValueError:
            raise UsageError(f"synthetic:{name}: {key}={value!r} is not a number") from None
        if key == "seed" and not isinstance(values[key], int):
            raise UsageError(f"synthetic:{name}: seed={value!r} is not an integer")
    if "centroid" not in values:
        raise UsageError(f"synthetic:{name}: give centroid=C (0 < C < 1, 1 = Nyquist), e.g. band(centroid=0.3)")
    return Band(**values)


USAGE = "band(centroid=C, bandwidth=0.1, floor=0, seed=0)"
