"""Where the benchmark keeps what it measured and compiled, so that the next process reuses it: the
ensemble-size and compile measurements (``members-per-ensemble.json``) and torch's own compile caches
(inductor's FX-graph and AOT-autograd artifacts, ``torch-compile/``), both under the project's cache
folder (``~/.cache/inr-bench`` on Linux). ``bench cache`` shows them; ``bench cache --clear`` removes what
bench wrote there, and only that: a variable may point a cache at a folder that holds other files too."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
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
    return project_compile_dir()


def project_compile_dir() -> Path:
    """The compile cache folder bench owns (the one ``bench cache --clear`` may remove whole)."""
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


@dataclass(frozen=True)
class Cache:
    """One cache ``bench cache`` shows: what it holds, where (a file or a folder), the paths in it that bench
    wrote (what ``clear`` removes), and why anything else there is not bench's to remove."""

    what: str
    path: Path
    owned: list[Path]
    others: str

    def size(self) -> int:
        """Bytes at ``path``: the file's, or those of every file under the folder (0 when there is none)."""
        if self.path.is_file():
            return self.path.stat().st_size
        return sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file()) if self.path.is_dir() else 0

    def empty(self) -> bool:
        return not self.path.exists() or (self.path.is_dir() and not any(self.path.iterdir()))

    def clear(self) -> list[Path]:
        """Remove what bench wrote; what is left at ``path`` (the folder's entries, or a folder where a file
        was expected)."""
        for path in self.owned:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
        if self.path.is_dir():
            return sorted(self.path.iterdir())
        return [self.path] if self.path.exists() else []
