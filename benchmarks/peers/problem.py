"""The one training problem every peer solves, defined once.

Signal: the first N samples of the ``relay`` clip (mono mean of the channels, divided by the whole clip's
max|x|, as benchmarks/whole_process.py's reference does) on t = linspace(-1, 1, N). Network: a SIREN of L
hidden sine layers of width H (w0_first 3000 on the first, w0 30 after) and a linear output, K members.
Training: full-batch Adam at lr 1e-4 (torch's defaults otherwise) on each member's mean squared error.
Member k starts from ``benchmarks.reference.siren`` drawn after ``torch.manual_seed(k)``, so every peer
starts from the same weights.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import soundfile as sf
import torch

from benchmarks.reference import siren

SIGNAL = "relay"
W0, W0_FIRST = 30.0, 3000.0  # audio SIREN: the first layer's frequency is the SIREN² paper's
LR = 1e-4


@dataclass(frozen=True)
class Shape:
    """K members trained for S steps on N samples with L hidden layers of width H."""

    members: int
    steps: int
    samples: int
    width: int
    layers: int

    def but(self, **changes: int | None) -> Shape:
        """This shape with the given fields replaced (a None leaves a field as it is)."""
        return dataclasses.replace(self, **{name: value for name, value in changes.items() if value is not None})


PRESETS = {
    "bar": Shape(members=8, steps=300, samples=16384, width=64, layers=4),  # whole_process.py's shape
    "paper": Shape(members=8, steps=1000, samples=150_000, width=222, layers=4),  # the SIREN² paper's audio fit
}


def signal(samples: int) -> tuple[np.ndarray, np.ndarray]:
    """coords [N, 1] and target [N, 1], float64 (each peer casts them to the dtype it trains in)."""
    from bench.signals.library import SignalLibrary  # only to find the file; the reading is done here

    data, _ = sf.read(str(SignalLibrary().path(SIGNAL, "audio")), dtype="float64", always_2d=True)
    mono = data.mean(axis=1)
    target = mono[:samples] / np.abs(mono).max()
    coords = np.linspace(-1.0, 1.0, len(target))
    return coords[:, None], target[:, None]


def initial_net(shape: Shape, seed: int, dtype: torch.dtype = torch.float32) -> torch.nn.Sequential:
    """Member ``seed``'s starting network: the reference SIREN drawn after torch.manual_seed(seed)."""
    torch.manual_seed(seed)
    return siren(1, shape.width, shape.layers, 1, w0=W0, w0_first=W0_FIRST).to(dtype)


def initial_params(shape: Shape, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Member ``seed``'s starting (weights [out, in], bias [out]) per linear layer, float64 (exact copies of
    the float32 draws)."""
    linears = [m for m in initial_net(shape, seed) if isinstance(m, torch.nn.Linear)]
    return [(m.weight.detach().double().numpy(), m.bias.detach().double().numpy()) for m in linears]
