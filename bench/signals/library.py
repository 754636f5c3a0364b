"""Where signals come from: the manifest (bench/signals/signals.toml), local lookup, pooch, synthetic signals.

A signal reference is a manifest name (``arch``), a path to any file of the user's, or
``synthetic:NAME`` (generated in code, no file needed). Manifest files are looked for in
``--data-dir``, then ``$BENCH_DATA``, then the pooch cache; if absent they are downloaded with pooch.
Every manifest file is checked against its sha256 before use.
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass, fields
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pooch

from bench.signals import band_noise
from bench.core.errors import BenchError, UsageError, did_you_mean
from bench.signals.shapes import SYNTHETIC_SHAPES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

MANIFEST = Path(__file__).resolve().parent / "signals.toml"  # package data
SYNTHETIC_PREFIX = "synthetic:"
SYNTHETIC_RATE = 16000  # nominal sample rate (Hz) of a synthetic clip (the audio task records the same value)


@dataclass(frozen=True)
class SignalEntry:
    """One manifest signal: ``file`` is its path relative to a data directory; ``licence`` the terms its source
    states (or that it states none)."""

    name: str
    kind: str
    file: str
    url: str
    sha256: str
    source: str
    licence: str
    details: dict[str, Any]


REQUIRED = tuple(f.name for f in fields(SignalEntry) if f.name not in ("name", "details"))


def load_manifest(path: Path = MANIFEST) -> dict[str, SignalEntry]:
    if not path.is_file():
        raise BenchError(f"signal manifest not found at {path}; install the package from a checkout (pip install -e .)")
    entries = {}
    for name, given in tomllib.loads(path.read_text()).items():
        missing = [key for key in REQUIRED if key not in given]
        if missing:
            raise BenchError(f"signal manifest {path}: [{name}] lacks {', '.join(missing)}; every entry states "
                             f"{', '.join(REQUIRED)}")
        core = {key: given.pop(key) for key in REQUIRED}
        entries[name] = SignalEntry(name=name, details=given, **core)
    return entries


@lru_cache(maxsize=64)
def _sha256(path: Path, size: int, mtime_ns: int) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sha256_of(path: Path) -> str:
    """sha256 hex digest of a file, cached by (path, size, mtime)."""
    stat = path.stat()
    return _sha256(path, stat.st_size, stat.st_mtime_ns)


class SignalLibrary:
    """Resolves signal references to files; ``data_dir`` is the user's ``--data-dir`` (searched before
    $BENCH_DATA and the download cache)."""

    def __init__(self, data_dir: str | Path | None = None, manifest: Path = MANIFEST):
        self.data_dir = Path(data_dir) if data_dir else None
        self.entries = load_manifest(manifest)
        self.cache = Path(pooch.os_cache("inr-bench"))

    def search_dirs(self) -> list[Path]:
        """Directories searched in order: --data-dir, $BENCH_DATA, the download cache."""
        dirs = [self.data_dir, Path(os.environ["BENCH_DATA"]) if os.environ.get("BENCH_DATA") else None, self.cache]
        return [d for d in dirs if d is not None]

    def local_path(self, entry: SignalEntry) -> Path | None:
        """The first existing copy of a manifest file, without downloading or hashing."""
        for directory in self.search_dirs():
            candidate = directory / entry.file
            if candidate.is_file():
                return candidate
        return None

    @cached_property
    def sets(self) -> dict[str, list[str]]:
        """Named sets of manifest signals (an entry's ``set``, e.g. "kodak512") -> their names, in manifest
        order: a spec's ``signals`` may name a set for all of its signals."""
        found: dict[str, list[str]] = {}
        for entry in self.entries.values():
            if "set" in entry.details:
                found.setdefault(entry.details["set"], []).append(entry.name)
        return found

    def expand(self, refs: list[str]) -> list[str]:
        """``refs`` with each set name replaced by the signals of the set."""
        sets = self.sets
        return [name for ref in refs for name in sets.get(ref, [ref])]

    def fingerprint(self, ref: str, kind: str) -> str:
        """What identifies the content of ``ref``: the manifest's sha256 for a manifest signal (no file read),
        the sha256 of a user's file (so a replaced file is a new signal), the name of a synthetic one.
        Raises the error ``path`` would raise for an unknown name or a missing file."""
        found = self._resolve(ref, kind)
        if found is None:
            return SYNTHETIC_PREFIX + synthetic_name(ref)
        return found.sha256 if isinstance(found, SignalEntry) else sha256_of(found)

    def canonical(self, ref: str, kind: str) -> str:
        """One name per signal: a user's file by its resolved absolute path (``in/x.wav``, ``in/./x.wav`` and
        the absolute path are one signal and one cell), a manifest or synthetic name as it is. Raises the
        error ``path`` would raise for an unknown name or a missing file."""
        found = self._resolve(ref, kind)
        if is_synthetic(ref):
            return SYNTHETIC_PREFIX + synthetic_name(ref)
        return str(found.resolve()) if isinstance(found, Path) else ref

    def path(self, ref: str, kind: str) -> Path:
        """The file for a manifest name (found or downloaded, hash checked) or a user path.

        ``kind`` ("audio"/"image") is the task's domain: a manifest signal of the other kind is an error.
        """
        found = self._resolve(ref, kind)
        return self._verified(found) if isinstance(found, SignalEntry) else found

    def _resolve(self, ref: str, kind: str) -> SignalEntry | Path | None:
        """The manifest entry or the user's file a reference names (None for a known synthetic signal)."""
        if is_synthetic(ref):
            synthetic_name(ref)
            return None
        entry = self.entries.get(ref)
        if entry is not None:
            if entry.kind != kind:
                raise UsageError(f"signal {ref!r} is {entry.kind}, not {kind}; use the {entry.kind}:{ref} task")
            return entry
        members = self.sets.get(ref)
        if members is not None:
            raise UsageError(f"{ref!r} is a set of {len(members)} signals ({members[0]}, ..., {members[-1]}; bench list "
                             f"signals shows them); name one of them here, or name the set in a spec's signals to "
                             f"fit each one")
        path = Path(ref).expanduser()
        if path.is_file():
            return path
        if path.suffix or os.sep in ref:
            raise BenchError(f"file not found: {path}; check the path")
        names = ", ".join(name for name, e in self.entries.items() if e.kind == kind and "set" not in e.details)
        sets = [name for name, members in self.sets.items() if self.entries[members[0]].kind == kind]
        in_sets = f", or a signal of the sets {', '.join(sets)} (bench list signals)" if sets else ""
        raise UsageError(f"unknown signal {ref!r}; use a file path, synthetic:{{{','.join(SYNTHETIC)}}}, "
                         f"synthetic:{band_noise.USAGE}, or one of: {names}{in_sets}{did_you_mean(ref, self.entries)}")

    def _verified(self, entry: SignalEntry) -> Path:
        path = self.local_path(entry)
        if path is None:
            return self._download(entry)
        digest = sha256_of(path)
        if digest != entry.sha256:
            raise BenchError(
                f"{entry.name}: sha256 mismatch for {path} (expected {entry.sha256[:12]}..., got {digest[:12]}...); "
                f"delete the file to re-download it or replace it with the original"
            )
        return path

    def _download(self, entry: SignalEntry) -> Path:
        target = self.cache / entry.file
        pooch.get_logger().setLevel("WARNING")  # errors reach the user as one line of ours
        try:
            return Path(pooch.retrieve(entry.url, known_hash=f"sha256:{entry.sha256}",
                                       fname=target.name, path=target.parent, progressbar=False))
        except Exception as exc:  # network errors, HTTP errors and hash mismatches all end here
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise BenchError(
                f"{entry.name}: not found locally and the download failed ({reason}); "
                f"put {entry.file} under --data-dir or $BENCH_DATA"
            ) from None


def _hf_noise(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise whose amplitude spectrum rises as f^2 up to 0.8 Nyquist: weak lows, strong highs."""
    spectrum = np.fft.rfftn(rng.standard_normal(shape))
    grids = np.meshgrid(*[np.fft.fftfreq(n) for n in shape[:-1]], np.fft.rfftfreq(shape[-1]), indexing="ij")
    radius = np.sqrt(sum(g**2 for g in grids)) / 0.5  # 1.0 = Nyquist
    spectrum *= np.where(radius <= 0.8, radius**2, 0.0)
    return np.fft.irfftn(spectrum, s=shape, axes=range(len(shape)))


# name -> generator(shape, rng); always called with seed 0, so a name and shape fix the signal
SYNTHETIC: dict[str, Callable[[tuple[int, ...], np.random.Generator], np.ndarray]] = {"hf_noise": _hf_noise}


def synthetic_name(ref: str) -> str:
    """NAME of ``synthetic:NAME``, checked against the known generators; a band-noise call
    (``band(centroid=...)``, bench.signals.band_noise) in its canonical form."""
    name = ref.removeprefix(SYNTHETIC_PREFIX)
    band = band_noise.parse(name)
    if band is not None:
        return band.name
    if name not in SYNTHETIC and name not in SYNTHETIC_SHAPES:
        raise UsageError(f"unknown synthetic signal {name!r}; choose one of: {', '.join(SYNTHETIC)}, "
                         f"{band_noise.USAGE}, or a shape for the sdf task: {', '.join(SYNTHETIC_SHAPES)}")
    return name


def is_band(ref: str) -> bool:
    """Whether ``ref`` is band noise, which is generated at the length fitted (bench.signals.band_noise)."""
    return is_synthetic(ref) and band_noise.parse(ref.removeprefix(SYNTHETIC_PREFIX)) is not None


def synthetic(ref: str, shape: tuple[int, ...]) -> np.ndarray:
    """The synthetic signal ``synthetic:NAME`` as a float64 array of the given shape."""
    name = synthetic_name(ref)
    if name in SYNTHETIC_SHAPES:
        raise UsageError(f"synthetic:{name} is a 3-D shape, not a clip or an image; fit it with the sdf task "
                         f"(--task sdf:synthetic:{name})")
    if name in SYNTHETIC:
        return SYNTHETIC[name](shape, np.random.default_rng(0))
    return _band(name, shape)


@lru_cache(maxsize=16)
def _band(name: str, shape: tuple[int, ...]) -> np.ndarray:
    signal = band_noise.parse(name).generate(shape)
    signal.flags.writeable = False  # shared by the cache
    return signal


def is_synthetic(ref: str) -> bool:
    return ref.startswith(SYNTHETIC_PREFIX)
