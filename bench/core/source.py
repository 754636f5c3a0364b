"""Fingerprints of the code behind a registered init scheme or task, so that a stored result knows the code
that made it and is not reused once that code changes.

A fingerprint hashes the source of the module that defines the function, as Python reads it (comments,
docstrings and layout left out: ``ast.unparse`` of the tree without docstrings), together with the modules
of other schemes or tasks it imports, followed transitively (``from bench.models.siren import siren``), and,
for a plugin file, the modules beside it that it imports (its own helpers). The
shared machinery (``bench.models``' ensemble and registry, ``bench.tasks``' loader, torch) is not part of
it: a change there that moves numbers is a new ``bench.experiment.plan.TARGET_REVISION`` or package version, not
a scheme's edit.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import inspect
import marshal
import sys
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

# packages whose modules each hold schemes or tasks (their __init__ and ensemble are the shared machinery)
SCHEME_PACKAGES = ("bench.models.", "bench.tasks.", "bench.learned.")
SHARED_MODULES = {"bench.models.ensemble", "bench.learned.cache", "bench.learned.families"}
# modules that make a task's target or points
TASK_HELPERS = {"bench.signals.masks", "bench.signals.shapes", "bench.signals.band_noise"}
NO_SOURCE = "no source"  # the fingerprint of a callable with neither readable source nor compiled code
PACKAGE = Path(__file__).resolve().parents[1]  # bench/


def code_fingerprint(fn: Callable) -> str:
    """16 hex digits naming the code of ``fn``'s module and the modules it imports that belong to it (see
    ``_belongs``). A function whose module has no readable source (typed in a REPL, made by ``exec``) is
    named by its compiled code instead, which changes with the Python version as well as with the code."""
    digest = hashlib.sha256()
    try:
        files = _module_files(fn.__module__, getattr(fn, "__code__", None))
        for path in files:
            digest.update(_normalized(_source(path)).encode())
    except (OSError, SyntaxError, ValueError):  # unreadable, undecodable or broken source
        files = []
    if not files:
        code = getattr(fn, "__code__", None)
        return hashlib.sha256(marshal.dumps(code)).hexdigest()[:16] if code is not None else NO_SOURCE
    return digest.hexdigest()[:16]


def _source(path: Path) -> str:
    """A source file's text, decoded as Python decodes it (its coding declaration, else UTF-8)."""
    return importlib.util.decode_source(path.read_bytes())


def _module_files(name: str, code=None) -> list[Path]:
    """The source files of module ``name`` and of the modules it imports that belong to it, transitively, in
    a fixed order (the module first, then the others by name); empty when ``name``'s file is not where
    ``code`` (the function's compiled code, if given) was compiled from."""
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
        pending += [module for module in _imports(_source(path), current) if _belongs(module, found[name])]
    first = found.pop(name, None)
    if first is None or (code is not None and Path(code.co_filename).resolve() != first.resolve()):
        return []  # e.g. exec'd under another module's name: that module's file is not this code
    return [first] + [found[module] for module in sorted(found)]


def _source_file(name: str | None) -> Path | None:
    if not name:  # a function made by exec in a namespace without __name__
        return None
    module = sys.modules.get(name)
    try:
        path = inspect.getsourcefile(module) if module is not None else None
        if path is None and module is None:
            spec = importlib.util.find_spec(name)
            path = spec.origin if spec and spec.origin and spec.origin.endswith(".py") else None
    except (TypeError, ImportError, ValueError):
        return None
    return Path(path) if path and Path(path).is_file() else None


def _belongs(module: str, origin: Path) -> bool:
    """Whether an imported module is part of the code that ``origin`` (the scheme's or task's file) defines: a
    project module of schemes or tasks (but the shared machinery) or one that makes a task's target or
    points (``TASK_HELPERS``), or, for a file outside the package (a plugin), a module in its folder or
    below (its own helpers)."""
    if module.startswith(SCHEME_PACKAGES):
        return module not in SHARED_MODULES
    if module.startswith("bench.") or module == "bench":
        return module in TASK_HELPERS
    path = _source_file(module)
    if path is None or PACKAGE in origin.resolve().parents:
        return False
    path = path.resolve()
    installed = any(Path(prefix).resolve() in path.parents for prefix in {sys.prefix, sys.base_prefix}) or \
        {"site-packages", "dist-packages"} & set(path.parts)  # a library, even in a venv below the plugin
    return not installed and origin.resolve().parent in path.parents  # a symlinked plugin: beside its target


@lru_cache(maxsize=256)
def _imports(text: str, importer: str) -> tuple[str, ...]:
    """The module names a source (of module ``importer``) imports from: ``import a.b``, ``from a.b import c``
    (and ``a.b.c`` where c is a module), relative imports resolved."""
    package = importer.rpartition(".")[0]
    names = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".") if package else []
                parts = parts[:len(parts) - node.level + 1] if node.level > 1 else parts
                base = ".".join([*parts, *([node.module] if node.module else [])])
            if base:
                names.append(base)
                names += [f"{base}.{alias.name}" for alias in node.names if _is_module(f"{base}.{alias.name}")]
    return tuple(names)


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


@lru_cache(maxsize=256)
def _normalized(text: str) -> str:
    """The source as its syntax tree without docstrings and without imports of this package's modules, written
    back by ``ast.unparse``: the same for two sources that differ only in comments, docstrings, blank lines,
    layout, or where in the package the names they import live (the modules that belong to the code are
    fingerprinted themselves, see ``_module_files``; moving a module is not a change of code)."""
    tree = ast.parse(text)
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            body = getattr(node, field, None)
            if not isinstance(body, list) or not body:
                continue
            first = body[0]
            docstring = (field == "body" and isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                                                 ast.AsyncFunctionDef))
                         and isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                         and isinstance(first.value.value, str))
            kept = [statement for statement in body[1 if docstring else 0:] if not _imports_package(statement)]
            setattr(node, field, kept or ([ast.Pass()] if field == "body" else []))
    return ast.unparse(tree)


def _imports_package(statement: ast.stmt) -> bool:
    """Whether ``statement`` imports from this package (``bench``, ``bench.x``, or relatively)."""
    if isinstance(statement, ast.ImportFrom):
        return statement.level > 0 or (statement.module or "").split(".")[0] == "bench"
    return isinstance(statement, ast.Import) and all(alias.name.split(".")[0] == "bench" for alias in statement.names)
