"""What an init scheme may know of the signal it will fit."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.signals.library import SignalLibrary


@dataclass(frozen=True)
class SignalInfo:
    """What an init scheme may know of its target.

    domain: the kind of signal, as the task declares it (``register_task(domain=...)``: "audio", "image", or
    a plugin's own); centroid: the target's spectral centroid psi as methods.md defines it (1.0 = Nyquist);
    source: the signal reference it was cut from, where a task says (a learned init refuses to fit a signal
    it learned from); library: where the task read it (``load_task`` sets it), so that a learned init reads its
    family's signals from the same folders, also on a remote worker.

    What training sees, for an init that looks at the target itself (``load_task`` sets them; None when unknown):
    values, the target the network's output is trained to match, [N, d_out] (a tensor or numpy array; None
    where training matches a derivative of the output instead, e.g. the Poisson tasks); coords, the points
    [N, d_in] it is trained on, in the same order; grid, the shape those points lie on, row-major: (H, W) for a
    whole image, (N,) for a whole clip, the kept rows and columns (or samples) of a stride mask, and None when
    they lie on no regular grid (a random mask, gaps, a shape's sample points). None of them is part of the
    signal's identity (equality, hash, repr).
    """

    domain: str
    d_in: int
    d_out: int
    centroid: float
    source: str | None = None
    library: SignalLibrary | None = field(default=None, compare=False, repr=False)
    values: Any = field(default=None, compare=False, repr=False)
    coords: Any = field(default=None, compare=False, repr=False)
    grid: tuple[int, ...] | None = field(default=None, compare=False, repr=False)
