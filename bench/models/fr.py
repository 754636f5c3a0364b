"""FR-INR, Fourier reparameterized training (Shi, Zhou and Gu, "Improved Implicit Neural Representation with
Fourier Reparameterized Training", CVPR 2024): an option of every scheme whose network chains real layers,
``--model siren:fr=true`` (``fr = true`` in a spec's [models] table), not a scheme of its own.

Each hidden-to-hidden layer (every layer after the first whose weights train, the output excepted) applies
W = Lambda B: B [M, fan_in] a fixed basis of sampled cosines, Lambda [fan_out, M] the coefficients that train
in place of W. The scheme initialises the network as always; Lambda is then the least-squares fit of its W
(``coefficients``), so FR is an axis of any scheme. Official code LabShuHangGU/FR-INR @ 4b8f491: the layer
``Fourier_reparam_linear`` (modules.py:64-122) and its sine form ``sin_fr_layer`` (146-206), used for the
hidden layers only (INR, modules.py:226-231, 245-248); the settings per input dimension are those of
1d_function_fitting.py:47-59, 2d_image_fitting.py:37-49 and 3D_occupance.py:54-66. docs/methods.md says
what this port chooses where the official code does not.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor

from bench.core.errors import UsageError
from bench.core.registry import Param, PositiveFloat, PositiveInt, declared_params
from bench.models.ensemble import Layer, Member, Network


def fr_options(fr: bool = False, fr_alpha: PositiveFloat | None = None, fr_phases: PositiveInt | None = None,
               fr_freqs: PositiveFloat | None = None) -> None:
    """The parameters every model takes (their declaration): fr turns FR on; fr_alpha scales the basis;
    fr_phases is the number of phases; fr_freqs the number of low and of high frequencies per input of the layer."""


FR_PARAMS: dict[str, Param] = declared_params(fr_options)

# Per input dimension (the official scripts fit 1-D functions, images and 3-D occupancy): (frequencies of each
# kind per input unit, phases, alpha of ReLU layers, alpha of the others). 1-D: low = high = 64 at width 128,
# 16 phases (1d_function_fitting.py:48-54); 2-D: 128 at width 256, 32 phases (2d_image_fitting.py:38-44); alpha
# 0.05 for ReLU and 0.01 for sine (their comments, 1d_function_fitting.py:55, 2d_image_fitting.py:45,
# modules.py:294-295). 3-D: 256 at width 256, 8 phases, alpha 0.001 for sine, 0.01 for ReLU
# (3D_occupance.py:55-62). Activations other than ReLU take the sine value (modules.py:295: "0.01 for sin and
# so on").
FR_DEFAULTS = {1: (0.5, 16, 0.05, 0.01), 2: (0.5, 32, 0.05, 0.01), 3: (1.0, 8, 0.01, 0.001)}
PINV_RTOL = 1e-4  # singular values of B below this fraction of the largest are float32 rounding (see coefficients)


@dataclass(frozen=True)
class FourierBasis:
    """The fixed basis B [size, fan_in] of one layer (Fourier_reparam_linear.init_bases, modules.py:78-101): rows
    alpha cos(f x_j + phi), f running over the low frequencies 1/n, 2/n, ..., 1 then the high 1, 2, ..., n
    (n = ``freqs``: ``per_input`` x fan_in, rounded, at least 1), each at the phases 2 pi p / ``phases``,
    p = 0 .. phases - 1; x_j the fan_in points evenly spaced over one period of the lowest frequency,
    [-pi n, pi n] (both ends included)."""

    fan_in: int
    per_input: float
    phases: int
    alpha: float

    @property
    def freqs(self) -> int:
        """n, the number of low and of high frequencies."""
        return max(1, round(self.per_input * self.fan_in))

    @property
    def size(self) -> int:
        """M, the number of basis rows: (low + high frequencies) x phases."""
        return 2 * self.freqs * self.phases

    def matrix(self) -> Tensor:
        """B [size, fan_in], float32 (shared: do not modify)."""
        return _matrix(self)


@functools.lru_cache(maxsize=16)
def _matrix(basis: FourierBasis) -> Tensor:
    n, phases = basis.freqs, basis.phases
    low = np.array([(i + 1) / n for i in range(n)])
    high = np.arange(1, n + 1, dtype=np.float64)
    phi = np.array([2 * math.pi * p / phases for p in range(phases)])
    period = 2 * math.pi / low[0]  # the longest period: the sampling interval (modules.py:82-86)
    points = np.linspace(-period / 2, period / 2, basis.fan_in)
    frequencies = np.concatenate([low, high])
    cosines = np.cos(frequencies[:, None, None] * points + phi[:, None]).reshape(-1, basis.fan_in)
    return torch.from_numpy(cosines).float() * basis.alpha  # cosines rounded to float32, then scaled there


@functools.lru_cache(maxsize=16)
def _pseudo_inverse(basis: FourierBasis) -> Tensor:
    """B's pseudo-inverse [fan_in, M] in float64, computed on one thread (the same bits whatever the thread count
    of the run). The official basis is rank-deficient (its end points lie one period apart, so its first and last
    columns are equal; at the official sizes the constant is missing too): of B's singular values, those of the
    float32 rounding (below 1e-7 of the largest) are cut, the others are above a fifth of it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return torch.linalg.pinv(basis.matrix().double(), rtol=PINV_RTOL)
    finally:
        torch.set_num_threads(threads)


def coefficients(weights: Tensor, basis: FourierBasis) -> Tensor:
    """Lambda [fan_out, M] whose Lambda B is nearest ``weights`` [fan_out, fan_in] (least squares, the smallest
    such Lambda), float32. Lambda B is the weights' projection on what the basis spans: all of them except, where
    B lacks them, the difference of the first and last columns and the mean of the others. Adam's and SGD's
    updates of Lambda are functions of its gradient dW B^T, so the part of Lambda that B maps to nothing never
    moves the weights: any Lambda with the same Lambda B trains the same function."""
    return (weights.double() @ _pseudo_inverse(basis)).float()


@dataclass(frozen=True)
class FourierReparam:
    """The plan of a scheme with FR: ``plan``'s layers, the hidden-to-hidden ones given a ``FourierBasis``
    (fr_alpha, fr_phases, fr_freqs as the user set them; None: the default per input dimension)."""

    plan: Callable[..., list[Layer]]
    alpha: float | None = None
    phases: int | None = None
    freqs: float | None = None

    def __call__(self, d_in: int, width: int, layers: int, d_out: int) -> list[Layer]:
        built = self.plan(d_in, width, layers, d_out)
        first = next((i for i, layer in enumerate(built) if layer.train_weights), len(built))
        hidden = [i for i in range(first + 1, len(built) - 1) if built[i].train_weights]
        if not hidden:
            raise UsageError(f"fr reparameterizes the layers between the first trained layer and the output, and "
                             f"this network ({layers} hidden layers) has none; give --layers {layers + 1} or more")
        return [replace(layer, basis=self.basis(d_in, layer)) if i in hidden else layer
                for i, layer in enumerate(built)]

    def basis(self, d_in: int, layer: Layer) -> FourierBasis:
        """The basis of a hidden layer of a network with d_in inputs."""
        from bench.models.relu_pe import relu  # a scheme module (it imports bench.models): not at load time

        if d_in not in FR_DEFAULTS and None in (self.alpha, self.phases, self.freqs):
            raise UsageError(f"fr has defaults for 1-, 2- and 3-D inputs, not {d_in}-D; set fr_alpha, fr_phases "
                             f"and fr_freqs")
        per_input, phases, alpha_relu, alpha_other = FR_DEFAULTS.get(d_in, (None,) * 4)
        alpha = (alpha_relu if layer.activation is relu else alpha_other) if self.alpha is None else self.alpha
        return FourierBasis(layer.fan_in, per_input if self.freqs is None else self.freqs,
                            phases if self.phases is None else self.phases, alpha)


def fr_plan(plan: Callable[..., list[Layer]], params: dict[str, Any]) -> Callable[..., list[Layer]]:
    """The network of a choice with ``params``: ``plan`` itself, or with FR when params set fr."""
    if not params.get("fr"):
        return plan
    return FourierReparam(plan, params.get("fr_alpha"), params.get("fr_phases"), params.get("fr_freqs"))


PROBE = (1, 16, 3, 1)  # (d_in, width, layers, d_out) at which a plan shows its kinds of layers


def fr_checked(name: str, meta: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """``params`` of scheme ``name`` with fr = false dropped (the scheme as it is: same label, same cells); a
    one-line UsageError where fr_* are set without fr, or where the scheme cannot take FR."""
    if params.get("fr") is False:
        params = {key: value for key, value in params.items() if key != "fr"}
    options = sorted(key for key in params if key in FR_PARAMS and key != "fr")
    if options and not params.get("fr"):
        raise UsageError(f"{name}: {', '.join(options)} set{'s' if len(options) == 1 else ''} Fourier "
                         f"reparameterized training; add fr=true")
    if not params.get("fr"):
        return params
    plan = meta["plan"]
    why = None
    if meta.get("learned"):
        why = "learns its init from other signals in the plain weights"
    elif isinstance(plan, Network) and any(getattr(type(plan), way) is not getattr(Network, way)
                                           for way in ("forward", "penalty")):
        why = "builds a network that evaluates its layers its own way (not a chain of layers)"
    elif any(layer.complex_weights for layer in plan(*PROBE)):
        why = "has complex layers, and the Fourier basis reparameterizes real weights"
    if why:
        raise UsageError(f"{name} cannot take fr: it {why}; run {name} without fr")
    return params


def fr_used(member: Member, layers: list[Layer], name: str) -> dict[str, Any]:
    """Turn ``member``'s weights of the layers with a basis into coefficients (``coefficients``), after its scheme
    has set them; the FR settings in effect (those of the first such layer), or {} without FR."""
    used = {}
    for i, layer in enumerate(layers):
        if layer.basis is None:
            continue
        if i in member.bounds:
            raise UsageError(f"{name} cannot take fr: it clamps layer {i}'s weights during training, and fr trains "
                             f"coefficients of a Fourier basis instead; run {name} without fr")
        member.weights[i] = coefficients(member.weights[i], layer.basis)
        used = used or {"fr_alpha": layer.basis.alpha, "fr_phases": layer.basis.phases,
                        "fr_freqs": layer.basis.per_input}
    return used
