"""Init schemes: a registry of decorated functions, and the ensembles built from them.

A scheme is one function ``fn(member, **params)`` that sets ``member.weights`` / ``biases`` /
``omegas`` (see ``Member``) and may return a dict of the values it actually used (e.g. a default
that depends on the signal), which the results record. Register it with ``@register_model()``;
every module in this package is imported on first use, so a new file here is all it takes.
Every scheme also takes the reserved parameters of Fourier reparameterized training, ``fr=true`` and its
settings (``bench.models.fr``), handled here, never passed to ``fn``.
"""

from __future__ import annotations

import importlib
import hashlib
import importlib.util
import pkgutil
import sys
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from types import ModuleType
from collections.abc import Iterable
from typing import Any, Callable

from bench.core.errors import UsageError
from bench.core.source import code_fingerprint
from bench.models.ensemble import (MLP, PRECISIONS, Activation, Architecture, Ensemble, Layer, Member, MissingDefault,
                                   Network, SignalInfo, parameter_count, sine)
from bench.models.fr import FR_PARAMS, fr_checked, fr_plan, fr_used
from bench.core.registry import Entry, Registry

MODELS = Registry("model", skip=1, reserved=FR_PARAMS)


def register_model(name: str | None = None, activation: Activation = sine, plan: Callable | None = None,
                   learned: bool = False):
    """Decorator registering an init scheme under ``name`` (default: the function's name).

    The network is ``plan(d_in, width, layers, d_out) -> list[Layer]``, by default ``MLP(activation)``
    (hidden layers with that activation, then a linear output); give a plan for anything else (an input
    encoding, complex layers, another width), a ``Network`` subclass for layers that do not chain. ``learned``: the init learns from other signals (slow once,
    then cached), so timing runs use another scheme of the same network instead.
    """
    return MODELS.register(name, plan=plan or MLP(activation), learned=learned)


def load_builtin_models() -> Registry:
    """Import every module of this package so that their schemes register themselves."""
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
    return MODELS


_plugins: list[ModuleType] = []


def plugin_modules() -> list[ModuleType]:
    """The modules ``load_plugin`` imported, in order."""
    return list(_plugins)


def load_plugin(path: str | Path) -> None:
    """Import a user's Python file (e.g. one holding a ``@register_model`` function): this runs its code."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"plugin file not found: {path}; pass the path of a .py file")
    if path.suffix != ".py":
        raise UsageError(f"plugin {path} is not a .py file; pass a Python file that registers models or tasks")
    # one module name per file (two plugins called plug.py in two folders stay two modules, each its own code)
    name = f"bench_plugin_{path.stem}_{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    except UsageError as exc:  # the file's own declaration refused (a metric named like a column, ...)
        del sys.modules[spec.name]
        raise UsageError(f"plugin {path}: {exc}") from None
    except Exception as exc:  # a syntax error or any failure of the user's code: name the file and the line
        del sys.modules[spec.name]
        where = f" (line {exc.lineno})" if isinstance(exc, SyntaxError) and exc.lineno else ""
        raise UsageError(f"plugin {path} failed to load{where}: {type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''}; fix that file") from exc
    _plugins.append(module)


@dataclass(frozen=True)
class ModelChoice:
    """A scheme with the parameters the user set (the rest take their defaults), its own and the reserved
    ones of FR (``bench.models.fr``), set or not as the user wrote them; ``fr=false`` is left out, so that the
    scheme without FR keeps its label and its cells."""

    entry: Entry
    params: dict[str, Any]

    def __post_init__(self):  # "auto" (None) for a parameter whose default is auto is the default: left out
        params = {key: value for key, value in self.params.items()
                  if not (value is None and self.entry.accepted[key].default is None)}
        object.__setattr__(self, "params", fr_checked(self.entry.name, self.entry.meta, params))

    @property
    def scheme_params(self) -> dict[str, Any]:
        """The parameters the scheme's function takes (the reserved ones left out)."""
        return {key: value for key, value in self.params.items() if key in self.entry.params}

    @property
    def plan(self) -> Callable:
        """The network: the scheme's plan, or with FR when ``fr`` is set."""
        return fr_plan(self.entry.meta["plan"], self.params)

    @cached_property
    def code(self) -> str:
        """The fingerprint of the code that makes this choice's results: the scheme's, and FR's with fr set
        (read once, as ``Entry.code``)."""
        if not self.params.get("fr"):
            return self.entry.code
        return hashlib.sha256(f"{self.entry.code}/{code_fingerprint(fr_plan)}".encode()).hexdigest()[:16]

    @property
    def label(self) -> str:
        """``name`` or ``name:key=value,...`` with the keys sorted: what tables group by."""
        if not self.params:
            return self.entry.name
        return self.entry.name + ":" + ",".join(f"{k}={v}" for k, v in sorted(self.params.items()))


def parse_model(text: str) -> ModelChoice:
    """Parse ``NAME`` or ``NAME:key=value,key=value``."""
    name, _, params = text.partition(":")
    entry = load_builtin_models().get(name.strip())
    return ModelChoice(entry, entry.parse_params(params))


@dataclass(frozen=True)
class MemberSpec:
    """One ensemble member: an init scheme with its parameters, and the seed of its init."""

    model: ModelChoice
    seed: int


FEATURES = ("ensemble", "ntk", "diagnose", "bf16")


def unsupported(models: Iterable[ModelChoice], arch: Architecture, feature: str) -> str | None:
    """Why ``models`` at ``arch`` cannot do ``feature``, or None when they can: "ensemble" (train as one
    ensemble: their plans must build the same network), "ntk" (an empirical NTK: real weights only),
    "diagnose" (per-layer activation statistics on 1-D inputs), "bf16" (train at bf16: some real layer after the
    first, see ``Ensemble``). The one place such limits are decided."""
    models = list(models)
    names = ", ".join(sorted({model.label for model in models}))  # labels: siren and siren:fr=True differ
    plans = {model.plan for model in models}
    if feature == "ensemble" and len(plans) > 1:
        return f"models {names} build different networks"
    if feature not in FEATURES:
        raise ValueError(f"unknown feature {feature!r}; one of {', '.join(FEATURES)}")
    lacking = sorted({model.entry.name for model in models if isinstance(model.plan, Network)
                      and feature != "ensemble" and feature not in model.plan.features})
    if lacking:
        return f"{', '.join(lacking)} build{'s' if len(lacking) == 1 else ''} networks that do not support {feature}"
    complex_models = sorted({model.entry.name for model in models
                             if any(layer.complex_weights for layer in arch.layers_of(model.plan))})
    if feature == "ntk" and complex_models:
        return f"the NTK of complex-valued models ({', '.join(complex_models)}) is not supported"
    if feature == "diagnose" and complex_models:  # its statistics (mean, std, spectrum) are of real activations
        return (f"bench diagnose summarises real activations; complex-valued models ({', '.join(complex_models)}) "
                f"are not supported")
    all_complex = sorted({model.entry.name for model in models  # bf16 casts the real matmuls of layers 1.. only
                          if all(layer.complex_weights for layer in arch.layers_of(model.plan)[1:])})
    if feature == "bf16" and all_complex:
        return (f"precision bf16 casts the real layers after the first, and {', '.join(all_complex)} has none (its "
                f"layers are complex): it would train at fp32 under the label bf16")
    if feature == "diagnose" and arch.d_in != 1:
        return f"bench diagnose evaluates 1-D inputs, and this signal has {arch.d_in}"
    return None


BUDGET_TOLERANCE = 0.10  # a budget must be met within 10% by some width


def width_for_budget(model: ModelChoice, d_in: int, layers: int, d_out: int, budget: int) -> tuple[int, int]:
    """The width whose network (the model's own plan, ``layers`` hidden layers) has the trainable real
    parameter count nearest ``budget`` (ties: the narrower), and that count. The count must not decrease as
    the width grows (true of every plan shipped); a budget no width meets within BUDGET_TOLERANCE is a
    usage error."""
    def count(width: int) -> int:
        return parameter_count(Architecture(d_in, width, layers, d_out).layers_of(model.plan))

    high = 1
    while count(high) < budget:  # doubling, then bisection: the first width reaching the budget
        high *= 2
    low = high // 2 + 1 if high > 1 else 1
    while low < high:
        mid = (low + high) // 2
        low, high = (mid + 1, high) if count(mid) < budget else (low, mid)
    candidates = [high] if high == 1 else [high - 1, high]
    width = min(candidates, key=lambda w: (abs(count(w) - budget), w))
    while width > 1 and count(width - 1) == count(width):  # a plan that rounds widths: the narrowest
        width -= 1
    if abs(count(width) - budget) > BUDGET_TOLERANCE * budget:
        raise UsageError(f"no width gives {model.entry.name} with {layers} hidden layers about {budget:,} parameters "
                         f"(nearest: width {width}, {count(width):,}); give a budget of at least {count(1):,}")
    return width, count(width)


def build_ensemble(
    specs: list[MemberSpec], arch: Architecture, signal: SignalInfo
) -> tuple[Ensemble, list[dict[str, Any]]]:
    """Initialise each member from its own seed and stack them; ``arch`` is handed to the models' plan.
    Returns the ensemble (on the CPU) and, per member, the parameters in effect (defaults, the user's
    values, then what the scheme reported using, then FR's settings where set). The scheme initialises
    every layer's weights; a layer with a basis (FR) then holds the coefficients that fit them."""
    reason = unsupported([spec.model for spec in specs], arch, "ensemble")
    if reason:
        raise UsageError(f"{reason}; run them in separate ensembles")
    plan = specs[0].model.plan
    layers = arch.layers_of(plan)
    plain = [replace(layer, basis=None) for layer in layers]  # what the scheme sees and initialises
    members, used = [], []
    for spec in specs:
        member = Member(plain, spec.seed, signal)
        entry = spec.model.entry
        params = {name: p.default for name, p in entry.params.items()} | spec.model.params
        try:
            reported = entry.fn(member, **spec.model.scheme_params) or {}
        except MissingDefault as missing:
            raise missing.for_scheme(entry.name) from None
        members.append(member)
        used.append(params | reported | fr_used(member, layers, entry.name))
    return Ensemble(members, layers, plan), used


__all__ = [
    "MLP", "MODELS", "PRECISIONS", "Architecture", "Ensemble", "Layer", "Member", "MemberSpec", "MissingDefault", "ModelChoice",
    "Network",
    "SignalInfo", "build_ensemble", "load_builtin_models", "load_plugin", "parameter_count", "parse_model",
    "plugin_modules", "register_model", "sine", "unsupported", "width_for_budget",
]
