"""One small registry used for init schemes and tasks: name -> function + typed, defaulted params.

A registered function declares its parameters as keyword arguments with type annotations and
defaults; the registry reads them with ``inspect`` so that the CLI can list, parse and validate them
(``siren2_filtered:S0=0.05,decay=0.9``) without any extra declaration.
"""

from __future__ import annotations

import inspect
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Callable

from bench.errors import UsageError

_SCALARS = (bool, int, float, str)


@dataclass(frozen=True)
class Param:
    """A keyword parameter of a registered function: scalar type, default, and whether None is allowed."""

    name: str
    type: type
    default: Any
    optional: bool

    def parse(self, text: str) -> Any:
        """Parse a command-line value; raises ValueError when it does not parse."""
        if self.optional and text.lower() in ("none", "auto"):
            return None
        if self.type is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        return self.type(text)

    def coerce(self, value: Any) -> Any:
        """Check a value from a spec file (TOML types; strings are parsed); raises ValueError."""
        if isinstance(value, str):
            return self.parse(value)
        if isinstance(value, bool) != (self.type is bool):
            raise ValueError(value)
        if self.type is float and isinstance(value, (int, float)):
            return float(value)
        if not isinstance(value, self.type):
            raise ValueError(value)
        return value

    def describe(self) -> str:
        default = "auto" if self.default is None else self.default
        return f"{self.name}: {self.type.__name__} = {default}"


@dataclass(frozen=True)
class Entry:
    """A registered function with its parameters (in declaration order) and free-form metadata."""

    name: str
    fn: Callable[..., Any]
    params: dict[str, Param]
    summary: str
    meta: dict[str, Any] = field(default_factory=dict)

    def parse_params(self, text: str) -> dict[str, Any]:
        """Parse ``key=value,key=value`` into typed values; unknown keys and bad values are usage errors."""
        values: dict[str, Any] = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            key, sep, raw = item.partition("=")
            key = key.strip()
            if not sep:
                raise UsageError(f"{self.name}: expected key=value, got {item!r}; valid keys: {self.describe_params()}")
            if key not in self.params:
                raise UsageError(f"{self.name}: unknown parameter {key!r}; valid keys: {self.describe_params()}")
            param = self.params[key]
            try:
                values[key] = param.parse(raw.strip())
            except ValueError:
                raise UsageError(
                    f"{self.name}: {key}={raw.strip()!r} is not a valid {param.type.__name__}; "
                    f"valid keys: {self.describe_params()}"
                ) from None
        return values

    def describe_params(self) -> str:
        """``name: type = default`` for each parameter, comma-separated."""
        return ", ".join(p.describe() for p in self.params.values()) or "(none)"


def _scalar_type(annotation: Any, where: str) -> tuple[type, bool]:
    """Return (scalar type, optional) for ``float``, ``int | None`` and the like."""
    if annotation in _SCALARS:
        return annotation, False
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1 and args[0] in _SCALARS and len(typing.get_args(annotation)) == 2:
            return args[0], True
    raise TypeError(f"{where}: parameters must be annotated bool, int, float or str (optionally | None)")


class Registry:
    """Maps names to functions; ``register`` is the decorator, ``get`` the checked lookup.

    ``skip`` leading positional parameters of each function are inputs supplied by the harness
    (for an init scheme: the member being initialised), not user parameters.
    """

    def __init__(self, kind: str, skip: int):
        self.kind = kind
        self.skip = skip
        self._entries: dict[str, Entry] = {}

    def register(self, name: str | None = None, **meta: Any) -> Callable[[Callable], Callable]:
        def decorator(fn: Callable) -> Callable:
            key = name or fn.__name__
            old = self._entries.get(key)
            if old and (old.fn.__module__, old.fn.__qualname__) != (fn.__module__, fn.__qualname__):
                raise UsageError(f"{self.kind} {key!r} is registered twice ({old.fn.__module__} and {fn.__module__}); rename one")
            self._entries[key] = Entry(key, fn, self._params(fn), _summary(fn), dict(meta))
            return fn

        return decorator

    def _params(self, fn: Callable) -> dict[str, Param]:
        hints = typing.get_type_hints(fn)
        params = list(inspect.signature(fn).parameters.values())[self.skip:]
        out = {}
        for p in params:
            if p.default is inspect.Parameter.empty:
                raise TypeError(f"{self.kind} {fn.__name__}: parameter {p.name!r} needs a default")
            typ, optional = _scalar_type(hints.get(p.name), f"{fn.__name__}.{p.name}")
            out[p.name] = Param(p.name, typ, p.default, optional)
        return out

    def get(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise UsageError(f"unknown {self.kind} {name!r}; choose one of: {', '.join(self.names())}") from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __iter__(self):
        return (self._entries[n] for n in self.names())


def _summary(fn: Callable) -> str:
    doc = inspect.getdoc(fn) or ""
    return doc.splitlines()[0] if doc else ""
