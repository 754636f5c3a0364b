"""One small registry used for init schemes and tasks: name -> function + typed, defaulted params.

A registered function declares its parameters as keyword arguments with type annotations and
defaults; the registry reads them with ``inspect`` so that the CLI can list, parse and validate them
(``siren2_filtered:S0=0.05,decay=0.9``) without any extra declaration. A numeric parameter is always
finite; ``Annotated[float, Bound(0)]`` (or the aliases below, e.g. ``w0: PositiveFloat = 30.0``) also
declares its domain, and ``Annotated[str, OneOf("a", "b")]`` the choices of a text parameter, checked wherever
a value comes in (command line, spec file).
"""

from __future__ import annotations

import inspect
import math
import types
import typing
from dataclasses import dataclass, field
from functools import cached_property
from typing import Annotated, Any, Callable

from bench.core.errors import UsageError, did_you_mean
from bench.core.source import code_fingerprint

_SCALARS = (bool, int, float, str)


@dataclass(frozen=True)
class Bound:
    """The domain of a numeric parameter: from ``low`` (``strict``: the bound itself excluded) and, with
    ``high``, up to ``high`` (always excluded)."""

    low: float
    strict: bool = False
    high: float | None = None

    def problem(self, value: float) -> str | None:
        """Why ``value`` is outside the domain, or None."""
        if not (value > self.low or (value == self.low and not self.strict)):
            return f"must be {'>' if self.strict else '>='} {_number(self.low)}"
        if self.high is not None and value >= self.high:
            return f"must be < {_number(self.high)}"
        return None

    def describe(self) -> str:
        """``>= 0``, ``> 0`` or ``in [0, 4294967296)``."""
        if self.high is None:
            return f"{'>' if self.strict else '>='} {_number(self.low)}"
        return f"in {'(' if self.strict else '['}{_number(self.low)}, {_number(self.high)})"


@dataclass(frozen=True, init=False)
class OneOf:
    """The domain of a text parameter: one of ``choices`` (``Annotated[str, OneOf("reptile", "maml")]``)."""

    choices: tuple[str, ...]

    def __init__(self, *choices: str):
        if not choices or not all(isinstance(choice, str) for choice in choices):
            raise TypeError(f"OneOf{choices}: give one or more text choices")
        object.__setattr__(self, "choices", choices)

    def problem(self, value: str) -> str | None:
        """Why ``value`` is not one of the choices, or None."""
        if value in self.choices:
            return None
        return f"must be one of {', '.join(self.choices)}{did_you_mean(value, self.choices)}"

    def describe(self) -> str:
        return "in {" + ", ".join(self.choices) + "}"


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else format(value, "g")


PositiveFloat = Annotated[float, Bound(0.0, strict=True)]
NonNegativeFloat = Annotated[float, Bound(0.0)]
PositiveInt = Annotated[int, Bound(1)]
NonNegativeInt = Annotated[int, Bound(0)]
Seed32 = Annotated[int, Bound(0, high=2**32)]  # a seed of numpy's RandomState


class OutOfDomain(ValueError):
    """A value of the right type outside its parameter's domain: ``shown`` (the value) and ``problem``."""

    def __init__(self, shown: str, problem: str):
        super().__init__(f"{shown} {problem}")
        self.shown, self.problem = shown, problem


@dataclass(frozen=True)
class Param:
    """A keyword parameter of a registered function: scalar type, default, whether None is allowed, and
    the bounds of its domain (numbers are finite in any case)."""

    name: str
    type: type
    default: Any
    optional: bool
    bound: Bound | OneOf | None = None

    def parse(self, text: str) -> Any:
        """Parse a command-line value; raises ValueError (with the reason, when there is one) when it does
        not parse or lies outside the domain."""
        if self.optional and text.lower() in ("none", "auto"):
            return None
        if self.type is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError()
        try:
            value = self.type(text)
        except ValueError:
            raise ValueError() from None
        return self._checked(value)

    def coerce(self, value: Any) -> Any:
        """Check a value from a spec file (TOML types; strings are parsed); raises ValueError."""
        if isinstance(value, str):
            return self.parse(value)
        if isinstance(value, bool) != (self.type is bool):
            raise ValueError()
        if self.type is float and isinstance(value, (int, float)):
            return self._checked(float(value))
        if not isinstance(value, self.type):
            raise ValueError()
        return self._checked(value)

    def _checked(self, value: Any) -> Any:
        if self.type is float and not math.isfinite(value):  # ints are finite (and may exceed a float)
            problem = "must be a finite number"
        else:
            problem = self.bound.problem(value) if self.bound else None
        if problem:
            raise OutOfDomain(format(value, "g") if self.type is float else str(value), problem)
        return value

    def reject(self, value: Any, error: ValueError) -> str:
        """The message for a value ``parse``/``coerce`` refused with ``error``."""
        return str(error) or f"{value!r} is not a valid {self.type.__name__}"

    def describe(self) -> str:
        default = "auto" if self.default is None else self.default
        domain = f" {self.bound.describe()}" if self.bound else ""
        return f"{self.name}: {self.type.__name__}{domain} = {default}"


@dataclass(frozen=True)
class Entry:
    """A registered function with its parameters (in declaration order) and free-form metadata. ``reserved``:
    the parameters every entry of its registry takes besides its own (a model's ``fr``), which the harness
    handles and ``fn`` never sees."""

    name: str
    fn: Callable[..., Any]
    params: dict[str, Param]
    summary: str
    meta: dict[str, Any] = field(default_factory=dict)
    reserved: dict[str, Param] = field(default_factory=dict)

    @property
    def accepted(self) -> dict[str, Param]:
        """Every parameter a choice of this entry may set: its own, then the reserved ones."""
        return self.params | self.reserved

    @cached_property
    def code(self) -> str:
        """The fingerprint of the code behind ``fn`` (``bench.core.source.code_fingerprint``), read once per
        process: the code a run plans with is the code its rows record."""
        return code_fingerprint(self.fn)

    def parse_params(self, text: str) -> dict[str, Any]:
        """Parse ``key=value,key=value`` into typed values; unknown keys and bad values are usage errors."""
        values: dict[str, Any] = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            key, sep, raw = item.partition("=")
            key = key.strip()
            if not sep:
                raise UsageError(f"{self.name}: expected key=value, got {item!r}; valid keys: {self.describe_params()}")
            if key not in self.accepted:
                also = f" (and {', '.join(self.reserved)})" if self.reserved else ""
                raise UsageError(f"{self.name}: unknown parameter {key!r}{did_you_mean(key, self.accepted)}; "
                                 f"valid keys: {self.describe_params()}{also}")
            if key in values:
                raise UsageError(f"{self.name}: {key} is given twice ({text.strip()!r}); give each parameter once")
            param = self.accepted[key]
            try:
                values[key] = param.parse(raw.strip())
            except ValueError as exc:
                raise UsageError(
                    f"{self.name}: {key}={param.reject(raw.strip(), exc)}; valid keys: {self.describe_params()}"
                ) from None
        return values

    def parse_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """Command-line options ({"max_samples": "4096"} from ``--max-samples 4096``) parsed and checked by the
        parameters they name, as a spec's are; an option this entry lacks is passed on for the caller to refuse."""
        parsed = {}
        for key, value in options.items():
            param, flag = self.params.get(key), "--" + key.replace("_", "-")
            try:
                parsed[key] = value if param is None else param.coerce(value)
            except OutOfDomain as exc:
                raise UsageError(f"{flag} {exc.problem}, got {exc.shown}") from None
            except ValueError as exc:
                raise UsageError(f"{flag}: {param.reject(value, exc)}") from None
        return parsed

    def describe_params(self) -> str:
        """``name: type = default`` for each parameter, comma-separated."""
        return ", ".join(p.describe() for p in self.params.values()) or "(none)"


def _scalar_type(annotation: Any, where: str) -> tuple[type, bool, Bound | OneOf | None]:
    """Return (scalar type, optional, domain) for ``float``, ``int | None``, ``PositiveFloat | None``,
    ``Annotated[str, OneOf(...)]`` and the like."""
    optional, bound = False, None
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(annotation)) == 2:
            annotation, optional = args[0], True
    if typing.get_origin(annotation) is Annotated:
        annotation, *extras = typing.get_args(annotation)
        bound = next((extra for extra in extras if isinstance(extra, (Bound, OneOf))), None)
    if bound is not None and (annotation is str) != isinstance(bound, OneOf):
        raise TypeError(f"{where}: OneOf is the domain of a str parameter, Bound that of an int or float")
    if annotation in _SCALARS:
        return annotation, optional, bound
    raise TypeError(f"{where}: parameters must be annotated bool, int, float or str (optionally | None)")


def declared_params(fn: Callable, skip: int = 0, kind: str = "function") -> dict[str, Param]:
    """The annotated, defaulted keyword parameters of ``fn`` (a function, or a dataclass: its fields) after
    its first ``skip`` ones, as ``Param``s: one validation for model parameters, task options and training
    settings alike."""
    hints = typing.get_type_hints(fn, include_extras=True)
    out = {}
    for p in list(inspect.signature(fn).parameters.values())[skip:]:
        if p.default is inspect.Parameter.empty:
            raise TypeError(f"{kind} {fn.__name__}: parameter {p.name!r} needs a default")
        typ, optional, bound = _scalar_type(hints.get(p.name), f"{fn.__name__}.{p.name}")
        if isinstance(bound, OneOf) and p.default is not None and p.default not in bound.choices:
            raise TypeError(f"{kind} {fn.__name__}: the default {p.default!r} of {p.name!r} is not one of its choices")
        out[p.name] = Param(p.name, typ, p.default, optional, bound)
    return out


class Registry:
    """Maps names to functions; ``register`` is the decorator, ``get`` the checked lookup.

    ``skip`` leading positional parameters of each function are inputs supplied by the harness
    (for an init scheme: the member being initialised), not user parameters. ``reserved``: parameters every
    entry takes besides its own (``Entry.reserved``); no function may declare one of their names.
    """

    def __init__(self, kind: str, skip: int, reserved: dict[str, Param] | None = None):
        self.kind = kind
        self.skip = skip
        self.reserved = dict(reserved or {})
        self._entries: dict[str, Entry] = {}

    def register(self, name: str | None = None, **meta: Any) -> Callable[[Callable], Callable]:
        def decorator(fn: Callable) -> Callable:
            key = name or fn.__name__
            old = self._entries.get(key)
            if old and (old.fn.__module__, old.fn.__qualname__) != (fn.__module__, fn.__qualname__):
                raise UsageError(f"{self.kind} {key!r} is registered twice ({old.fn.__module__} and {fn.__module__}); rename one")
            params = self._params(fn)
            taken = [name for name in params if name in self.reserved]
            if taken:
                raise UsageError(f"{self.kind} {key!r} declares {', '.join(taken)}, which every {self.kind} takes "
                                 f"already (reserved: {', '.join(self.reserved)}); rename the parameter")
            self._entries[key] = Entry(key, fn, params, _summary(fn), dict(meta), self.reserved)
            return fn

        return decorator

    def _params(self, fn: Callable) -> dict[str, Param]:
        return declared_params(fn, self.skip, self.kind)

    def get(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise UsageError(f"unknown {self.kind} {name!r}{did_you_mean(name, self._entries)}; "
                             f"choose one of: {', '.join(self.names())}") from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __iter__(self):
        return (self._entries[n] for n in self.names())


def _summary(fn: Callable) -> str:
    doc = inspect.getdoc(fn) or ""
    return doc.splitlines()[0] if doc else ""
