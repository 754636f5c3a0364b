"""What an init scheme may know of the signal it will fit."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

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
    """

    domain: str
    d_in: int
    d_out: int
    centroid: float
    source: str | None = None
    library: SignalLibrary | None = field(default=None, compare=False, repr=False)
