"""Signal families for learned inits: pieces of several source signals of one kind, split by whole source
into a train split (what a learned init may learn from) and a test split (what it is judged on), declared
in ``bench/learned/families.toml`` (or the file ``$BENCH_FAMILIES`` names).

A piece is a signal the benchmark's own task fits: for an audio family the window of ``length`` samples from
sample ``offset`` of a source clip (``audio:SOURCE --max-samples LENGTH --offset O``: divided by the whole
clip's peak first), for an image family the ``size`` x ``size`` crop at ``(row, col)`` (``image:SOURCE --crop
SIZE --crop-row ROW --crop-col COL``). So a test piece is fitted as any other signal is, and learning reads
exactly what a fit would. ``train_pieces`` is the only reader of a family's signals for learning, and it
refuses any source of the test split.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.core.errors import BenchError, UsageError, did_you_mean
from bench.signals.library import SignalLibrary, is_synthetic

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

FAMILIES = Path(__file__).resolve().parent / "families.toml"  # package data
FAMILIES_ENV = "BENCH_FAMILIES"


def _window(length: int, offset: int) -> dict[str, Any]:
    return {"max_samples": length, "offset": offset}


def _crop(size: int, corner: list[int]) -> dict[str, Any]:
    row, col = corner
    return {"crop": size, "crop_row": row, "crop_col": col}


# kind -> (the key of a piece's size, the key of the list of where pieces start, options of the piece's task)
PIECES = {"audio": ("length", "offsets", _window), "image": ("size", "corners", _crop)}


@dataclass(frozen=True)
class Family:
    """name; kind of its signals (its pieces are fitted by the task of that name); ``size``: samples of a
    window (audio) or pixels of a square crop's side (image); ``starts``: where each piece starts in every
    source (audio: an offset; image: a [row, col] corner); ``train`` and ``test``: the sources of each split
    (disjoint)."""

    name: str
    kind: str
    size: int
    starts: tuple
    train: tuple[str, ...]
    test: tuple[str, ...]

    def pieces(self, split: str) -> list[tuple[str, dict[str, Any]]]:
        """(source, task options) of every piece of ``split`` ("train" or "test"), sources in declared order."""
        if split not in ("train", "test"):
            raise UsageError(f"a family's split is train or test, not {split!r}")
        options = PIECES[self.kind][2]
        return [(source, options(self.size, start)) for source in getattr(self, split) for start in self.starts]

    def fingerprint(self, library: SignalLibrary) -> str:
        """sha256 (hex) of what learning from this family depends on: its definition without the test
        split, and the content (sha256) of each train source. Changing the test split leaves it alone."""
        content = {"name": self.name, "kind": self.kind, "pieces": self.pieces("train"),
                   "sources": [library.fingerprint(source, self.kind) for source in self.train]}
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def families_file() -> Path:
    """$BENCH_FAMILIES (a families file of one's own), else the project's bench/learned/families.toml."""
    return Path(os.environ.get(FAMILIES_ENV) or FAMILIES)


def _whole(value, what: str) -> int:
    """``value`` as an int >= 0 (a TOML integer, not a float or a boolean), else ValueError naming ``what``."""
    if type(value) is not int or value < 0:
        raise ValueError(f"{what} must be whole numbers >= 0, got {value!r}")
    return value


def _starts(kind: str, declared: list, key: str) -> tuple:
    """Where the pieces start, each once: offsets (audio), [row, col] corners (image), whole numbers >= 0."""
    if kind == "audio":
        starts = tuple(_whole(offset, key) for offset in declared)
    else:
        if not all(isinstance(corner, list) and len(corner) == 2 for corner in declared):
            raise ValueError(f"{key} are [row, col] pairs")
        starts = tuple((_whole(row, key), _whole(col, key)) for row, col in declared)
    if not starts or len(set(starts)) < len(starts):
        raise ValueError(f"{key} must be given, each once")
    return starts


def load_families(path: Path | None = None, library: SignalLibrary | None = None) -> dict[str, Family]:
    """The project's families (bench/learned/families.toml) and those declared in ``path`` (default:
    ``families_file()``, which $BENCH_FAMILIES names), each checked: a known kind, a positive piece size,
    starts and sources given once, two non-empty disjoint splits of manifest signals of that kind. A family
    of a file of one's own adds to the project's; it may not redefine one under its name (results keyed by
    the name would mix the two)."""
    path = path or families_file()
    library = library or SignalLibrary()
    families = {name: _family(name, fields, path, library) for name, fields in _read(path).items()}
    if path.resolve() == FAMILIES.resolve() or not FAMILIES.is_file():
        return families
    project = {name: _family(name, fields, FAMILIES, library) for name, fields in _read(FAMILIES).items()}
    for name in families.keys() & project.keys():
        if families[name].fingerprint(library) != project[name].fingerprint(library):
            raise BenchError(f"family {name!r} in {path} is not the project's family of that name "
                             f"(bench/learned/families.toml), and results name the family they learned from; give "
                             f"yours another name")
    return project | families


def _read(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        named = os.environ.get(FAMILIES_ENV) and path == families_file()
        fix = ("restore bench/learned/families.toml" if path == FAMILIES else
               f"fix it or unset ${FAMILIES_ENV}, which names it" if named else "fix it")
        raise BenchError(f"cannot read the families file {path} ({exc}); {fix}") from None


def _family(name: str, fields, path: Path, library: SignalLibrary) -> Family:
    """The family ``name`` declared by ``fields`` in ``path``, checked (see ``load_families``)."""
    where = f"family {name!r} in {path}"
    kind = fields.get("kind") if isinstance(fields, dict) else None
    if kind not in PIECES:
        given = "has no kind" if kind is None else f"kind {kind!r} has no pieces defined"
        raise BenchError(f"{where}: {given} (kinds: {', '.join(PIECES)}); fix it")
    size_key, starts_key, _ = PIECES[kind]
    try:
        if not all(isinstance(fields.get(key), list) for key in (starts_key, "train", "test")):
            raise ValueError(f"{starts_key}, train and test must be lists")
        size = _whole(fields.get(size_key), size_key)
        family = Family(name, kind, size, _starts(kind, fields[starts_key], starts_key), tuple(fields["train"]),
                        tuple(fields["test"]))
    except ValueError as exc:
        raise BenchError(f"{where} needs kind, {size_key}, {starts_key}, train and test: {exc}; fix it") from None
    if family.size < 1:
        raise BenchError(f"{where}: {size_key} must be positive; fix it")
    if not family.train or not family.test:
        raise BenchError(f"{where}: both splits need a source; fix it")
    sources = family.train + family.test
    if len(set(sources)) < len(sources):
        both = sorted({source for source in family.train if source in family.test})
        if both:
            raise BenchError(f"{where}: {', '.join(both)} is in both splits; a source belongs to one split, so that "
                             f"no piece of a test signal is learned from")
        raise BenchError(f"{where}: a source is listed twice in a split; list each once")
    for source in sources:
        entry = library.entries.get(source) if isinstance(source, str) else None
        if entry is None or entry.kind != family.kind:
            raise BenchError(f"{where}: {source!r} is not a signal of the manifest of kind {family.kind}; fix it")
    return family


def family_named(name: str, library: SignalLibrary | None = None) -> Family:
    """The declared family ``name``; an unknown name is a usage error listing the declared ones."""
    families = load_families(library=library)
    if name not in families:
        raise UsageError(f"unknown signal family {name!r}{did_you_mean(name, families)}; declared in "
                         f"{families_file().name}: {', '.join(families)}")
    return families[name]


def learned_from(model, library: SignalLibrary) -> str | None:
    """The fingerprint of the family a learned init (a ModelChoice of a scheme registered ``learned``, whose
    parameter ``family`` names it) learns from, which its rows record (``family_fingerprint``) so that a row
    learned from another content of the family is not taken for current; None for any other scheme."""
    if not model.entry.meta.get("learned"):
        return None
    name = model.params.get("family", model.entry.params["family"].default)
    return family_named(name, library).fingerprint(library)[:16]


def check_not_learned_from(family: Family, source: str | None, scheme: str, library: SignalLibrary) -> None:
    """Refuse to fit ``source`` with an init learned from ``family``'s train split when the source is one of its
    signals, by name or by content (``_train_signal_in``: a copy, another encoding or a cut of a train signal is
    that signal): the init would be judged on a signal it learned from."""
    if source is None:
        return
    same = _train_signal_in(family, source, library)
    if same is not None:
        shown = repr(source) if source == same else f"{source!r} (the content of {same!r})"
        raise UsageError(f"{scheme} learns from the train split of family {family.name!r}, which holds {shown}; "
                         f"fit a test-split signal ({', '.join(family.test)})")


_train_signals_found: dict[tuple[str, str], str | None] = {}  # (family, source fingerprint) -> the train source


def _train_signal_in(family: Family, source: str, library: SignalLibrary) -> str | None:
    """The train source of ``family`` that ``source`` is, or None: the same file content (a train name's is its
    manifest sha256), else the same decoded samples or pixels up to scale, one within the other (the same
    samples as FLAC or float WAV, a train window or crop saved as its own file, a train clip inside a longer
    one). Found once per family and source content."""
    fingerprint = library.fingerprint(source, family.kind)
    key = (family.fingerprint(library), fingerprint)
    if key not in _train_signals_found:
        by_file = {library.fingerprint(train, family.kind): train for train in family.train}
        same = by_file.get(fingerprint)
        if same is None and not is_synthetic(source):
            fitted = _decoded(library.path(source, family.kind), family.kind)
            same = next((train for train in family.train if _overlap(
                _decoded(library.path(train, family.kind), family.kind), fitted)), None)
        _train_signals_found[key] = same
    return _train_signals_found[key]


def _decoded(path: Path, kind: str) -> np.ndarray:
    """The samples [n, 1] (mono mix) of an audio file or the pixels [H, W, C] in [0, 1] of an image file."""
    from bench.tasks.audio import read_mono
    from bench.signals.image_files import read_unit_pixels

    return read_mono(path)[0][:, None] if kind == "audio" else read_unit_pixels(path)


CANDIDATES = 8  # places a window is checked at, best correlated first: a true match correlates 1
MATCH = 0.999  # the least normalized correlation a place needs to be checked (rounding keeps a match above it)


def _overlap(one: np.ndarray, other: np.ndarray) -> bool:
    """Whether either array [*where, C] is, up to a positive or negative scale, a window of the other."""
    small, big = sorted((one, other), key=lambda a: a.size)
    if small.shape[-1] != big.shape[-1] or any(s > b for s, b in zip(small.shape, big.shape)):
        return False
    return _contains(big, small)


def _contains(big: np.ndarray, small: np.ndarray) -> bool:
    """Whether ``small`` [*w, C] equals scale x (a window of ``big`` [*W, C]) for some scale: candidate places
    by normalized cross-correlation (FFT), each then compared sample by sample."""
    from scipy.signal import fftconvolve

    flipped = small[tuple(slice(None, None, -1) for _ in small.shape[:-1])]
    ones = np.ones(small.shape[:-1])
    corr = sum(fftconvolve(big[..., c], flipped[..., c], mode="valid") for c in range(big.shape[-1]))
    energy = sum(fftconvolve(big[..., c] ** 2, ones, mode="valid") for c in range(big.shape[-1]))
    norm = np.sqrt(np.maximum(energy, 0) * np.sum(small ** 2))
    ncc = np.abs(np.divide(corr, norm, out=np.zeros_like(corr), where=norm > 0))
    for flat in np.argsort(ncc, axis=None)[::-1][:CANDIDATES]:
        if ncc.flat[flat] < MATCH:
            break
        start = np.unravel_index(flat, ncc.shape)
        window = big[tuple(slice(i, i + n) for i, n in zip(start, small.shape[:-1]))]
        scale = np.sum(window * small) / np.sum(small ** 2)
        if np.allclose(window, scale * small, rtol=0, atol=1e-6 * np.abs(window).max()):
            return True
    return False


def family_to_learn_from(name: str, signal, scheme: str, library: SignalLibrary) -> Family:
    """The family ``name`` a learned init ``scheme`` learns from to fit ``signal`` (its SignalInfo): refused when
    the family holds another kind of signal, or when the fitted signal is one of its train sources."""
    family = family_named(name, library)
    if signal.domain != family.kind:
        raise UsageError(f"{scheme}: family {name!r} holds {family.kind} signals, and this task fits {signal.domain}; "
                         f"choose a family of {signal.domain} signals ({families_file().name})")
    check_not_learned_from(family, signal.source, scheme, library)
    return family


def train_pieces(family: Family, library: SignalLibrary, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The train split's pieces as their tasks make them: coords [N, d_in] (the same for every piece) and
    targets [P, N, channels] (float32), in ``pieces("train")`` order. The only way learning reads a family; a
    source of the test split never reaches it (refused, should a family say otherwise), and pieces of another
    number of channels than the fitted signal's (``channels``) are refused."""
    from bench.tasks import load_task

    coords, targets = None, []
    for source, options in family.pieces("train"):
        if source in family.test:
            raise UsageError(f"family {family.name!r}: test-split signal {source!r} cannot be learned from")
        try:
            task = load_task(f"{family.kind}:{source}", library, options)
        except BenchError as exc:
            raise type(exc)(f"family {family.name!r}, piece of {source} at {_where(options)}: {exc}") from None
        if len(task.target) != _piece_points(family):
            raise BenchError(f"family {family.name!r}: the piece of {source} at {_where(options)} is cut short by the "
                             f"end of the signal ({len(task.target):,} points); move the family's "
                             f"{PIECES[family.kind][1]} ({families_file()})")
        if task.target.shape[-1] != channels:
            raise UsageError(f"family {family.name!r}: {source} has {task.target.shape[-1]} channel(s) and the fitted "
                             f"signal {channels}; learn from a family of signals with as many channels")
        coords = task.coords if coords is None else coords
        targets.append(task.target)
    return coords, torch.stack(targets)


def _piece_points(family: Family) -> int:
    return family.size if family.kind == "audio" else family.size ** 2


def _where(options: dict[str, Any]) -> str:
    return ", ".join(f"{key} {value}" for key, value in options.items())
