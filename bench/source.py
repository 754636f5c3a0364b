"""Fingerprints of the code behind a registered init scheme or task, so that a stored result knows the code
that made it and is not reused once that code changes.

A fingerprint hashes the source of the module that defines the function, as Python reads it (comments,
docstrings and layout left out: ``ast.unparse`` of the tree without docstrings), together with the modules
of other schemes or tasks it imports, followed transitively (``from bench.models.siren import siren``). The
shared machinery (``bench.models``' ensemble and registry, ``bench.tasks``' loader, torch) is not part of
it: a change there that moves numbers is a new ``bench.sweep.plan.TARGET_REVISION`` or package version, not
a scheme's edit.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import inspect
import sys
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

# packages whose modules each hold schemes or tasks (their __init__ and ensemble are the shared machinery)
SCHEME_PACKAGES = ("bench.models.", "bench.tasks.")
SHARED_MODULES = {"bench.models.ensemble"}
NO_SOURCE = "no source"  # the fingerprint of a function whose source cannot be read (typed in a REPL)


def code_fingerprint(fn: Callable) -> str:
    """16 hex digits naming the code of ``fn``'s module and the scheme or task modules it imports."""
    files = _module_files(fn.__module__)
    if not files:
        return NO_SOURCE
    digest = hashlib.sha256()
    for path in files:
        digest.update(_normalized(path.read_text(encoding="utf-8")).encode())
    return digest.hexdigest()[:16]


def _module_files(name: str) -> list[Path]:
    """The source files of module ``name`` and of the scheme or task modules it imports, transitively, in a
    fixed order (the module first, then the others by name)."""
    found: dict[str, Path] = {}
    pending = [name]
    while pending:
        current = pending.pop()
        if current in found:
            continue
        path = _source_file(current)
        if path is None:
            continue
        found[current] = path
        pending += [module for module in _imports(path.read_text(encoding="utf-8")) if _is_scheme_module(module)]
    first = found.pop(name, None)
    return ([first] if first else []) + [found[module] for module in sorted(found)]


def _source_file(name: str) -> Path | None:
    module = sys.modules.get(name)
    try:
        path = inspect.getsourcefile(module) if module is not None else None
        if path is None and module is None:
            spec = importlib.util.find_spec(name)
            path = spec.origin if spec and spec.origin and spec.origin.endswith(".py") else None
    except (TypeError, ImportError, ValueError):
        return None
    return Path(path) if path and Path(path).is_file() else None


def _is_scheme_module(name: str) -> bool:
    return name.startswith(SCHEME_PACKAGES) and name not in SHARED_MODULES


@lru_cache(maxsize=256)
def _imports(text: str) -> tuple[str, ...]:
    """The absolute module names a source imports from (``import a.b``, ``from a.b import c``)."""
    names = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
    return tuple(names)


@lru_cache(maxsize=256)
def _normalized(text: str) -> str:
    """The source as its syntax tree without docstrings, written back by ``ast.unparse``: the same for two
    sources that differ only in comments, docstrings, blank lines or layout."""
    tree = ast.parse(text)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                node.body = node.body[1:] or [ast.Pass()]
    return ast.unparse(tree)
