"""What an init scheme may know of the signal it will fit."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SignalInfo:
    """What an init scheme may know of its target.

    domain: the kind of signal, as the task declares it (``register_task(domain=...)``: "audio", "image", or
    a plugin's own); centroid: the target's spectral centroid psi as methods.md defines it (1.0 = Nyquist);
    source: the signal reference it was cut from, where a task says (a learned init refuses to fit a signal
    it learned from).
    """

    domain: str
    d_in: int
    d_out: int
    centroid: float
    source: str | None = None
