"""The package's layers point one way: a module imports only from its own package or from a package below
it in ``LAYERS`` (docs/extending.md, "Map of the packages"). Imports inside functions count too."""

import ast
from pathlib import Path

import bench

PACKAGE = Path(bench.__file__).resolve().parent
# bottom to top; a package may import from the ones before it
LAYERS = ["core", "signals", "models", "tasks", "training", "learned", "analysis", "perf", "experiment", "report",
          "api", "cli"]


def _layer(module: str) -> str:
    """The layer of ``bench.<layer>...``; ``bench`` itself (its ``__version__``) is the bottom, its
    ``__main__`` the top."""
    parts = module.split(".")
    if len(parts) == 1 or parts[1] == "__version__":
        return "core"
    return "cli" if parts[1] == "__main__" else parts[1]


def _imports(path: Path, module: str) -> list[tuple[str, int]]:
    """(imported bench module, line) for every import in ``path``, relative ones resolved."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            found += [(f"{base}.{alias.name}" if base == "bench" else base, node.lineno) for alias in node.names]
    return [(name, line) for name, line in found if name == "bench" or name.startswith("bench.")]


def _modules() -> dict[str, Path]:
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def test_every_package_has_a_layer():
    packages = {_layer(module) for module in _modules()}
    assert packages <= set(LAYERS), f"packages missing from LAYERS: {sorted(packages - set(LAYERS))}"


def test_imports_point_down_the_layers():
    upward = []
    for module, path in _modules().items():
        rank = LAYERS.index(_layer(module))
        for imported, line in _imports(path, module):
            if LAYERS.index(_layer(imported)) > rank:
                upward.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {imported}")
    assert not upward, "imports that point up the layers:\n" + "\n".join(upward)


def test_the_check_sees_an_upward_import(tmp_path):
    """The check itself: a module of a lower layer importing a higher one is caught, also inside a function."""
    source = tmp_path / "step.py"
    source.write_text("def f():\n    from bench.perf.sizing import x\n")
    (imported, _), = _imports(source, "bench.training.step")
    assert LAYERS.index(_layer(imported)) > LAYERS.index(_layer("bench.training.step"))


def test_the_command_list_loads_neither_torch_nor_the_registries():
    """``bench --help`` builds no command's arguments (``CommandParser``), so it imports none of what they need:
    it answers at once however heavy the library under it."""
    import subprocess
    import sys

    script = ("import sys\nfrom bench.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
              "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith(('bench.models', 'bench.tasks'))))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert "usage: bench" in done.stdout and done.stdout.strip().endswith("[]")
