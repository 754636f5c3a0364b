"""Where the benchmark keeps what it measured and compiled, so that the next process reuses it: the
ensemble-size and compile measurements (``members-per-ensemble.json``) and torch's own compile caches
(inductor's FX-graph and AOT-autograd artifacts, ``torch-compile/``), both under the project's cache
folder (``~/.cache/inr-bench`` on Linux). ``bench cache`` shows them; ``bench cache --clear`` empties them."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pooch

COMPILE_CACHE_ENV = "TORCHINDUCTOR_CACHE_DIR"  # inductor reads it whenever it looks up or stores an artifact


def cache_root() -> Path:
    return Path(pooch.os_cache("inr-bench"))


def compile_cache_dir() -> Path:
    """torch.compile's artifact folder: $TORCHINDUCTOR_CACHE_DIR when the user set one, else the project's
    (importing torch._dynamo sets the variable to torch's own default, a folder under /tmp: that value is
    torch's, not the user's)."""
    given = os.environ.get(COMPILE_CACHE_ENV)
    if given and os.path.abspath(given) != _torch_default():
        return Path(given)
    return cache_root() / "torch-compile"


def use_compile_cache() -> Path:
    """Point torch.compile at ``compile_cache_dir`` (a compile in a later process then mostly reads its
    artifacts back: seconds, where a cold compile takes tens of seconds on a CPU)."""
    path = compile_cache_dir()
    os.environ[COMPILE_CACHE_ENV] = str(path)
    return path


def _torch_default() -> str | None:
    """The folder torch.compile uses when $TORCHINDUCTOR_CACHE_DIR is unset (None where this torch keeps the
    function elsewhere)."""
    try:
        from torch._inductor.runtime.cache_dir_utils import default_cache_dir
    except ImportError:
        try:  # torch < 2.6
            from torch._inductor.runtime.runtime_utils import default_cache_dir
        except ImportError:
            return None
    try:
        return os.path.abspath(default_cache_dir())
    except Exception:  # torch < 2.6 asks getpass for the user name, which fails without a passwd entry
        return None


def folder_size(path: Path) -> int:
    """Bytes of the files under ``path`` (0 when it does not exist)."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else 0


def clear(paths: list[Path]) -> None:
    """Remove these files and folders (missing ones are fine)."""
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
