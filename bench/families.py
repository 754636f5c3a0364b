"""Signal families for learned inits: pieces of several source signals of one kind, split by whole source
into a train split (what a learned init may learn from) and a test split (what it is judged on), declared
in ``datasets/families.toml``.

A piece of an audio family is the window of ``length`` samples from sample ``offset`` of a source clip,
divided by the whole clip's peak first: the task ``audio:SOURCE --offset O --max-samples LENGTH``, so a test
piece is fitted as any other clip is. ``train_pieces`` is the only reader of a family's signals for
learning, and it refuses any source of the test split.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from bench.errors import BenchError, UsageError, did_you_mean
from bench.signals import SignalLibrary

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

FAMILIES = Path(__file__).resolve().parents[1] / "datasets" / "families.toml"
KINDS = ("audio",)  # kinds whose pieces are defined (image crops: not yet)


@dataclass(frozen=True)
class Family:
    """name; kind of its signals; ``length`` samples per piece, starting at each of ``offsets`` in every
    source; ``train`` and ``test``: the sources of each split (disjoint)."""

    name: str
    kind: str
    length: int
    offsets: tuple[int, ...]
    train: tuple[str, ...]
    test: tuple[str, ...]

    def pieces(self, split: str) -> list[tuple[str, int]]:
        """(source, offset) of every piece of ``split`` ("train" or "test"), sources in declared order."""
        if split not in ("train", "test"):
            raise UsageError(f"a family's split is train or test, not {split!r}")
        return [(source, offset) for source in getattr(self, split) for offset in self.offsets]

    def fingerprint(self, library: SignalLibrary) -> str:
        """sha256 (hex) of what learning from this family depends on: its definition without the test
        split, and the content (sha256) of each train source. Changing the test split leaves it alone."""
        content = {k: v for k, v in asdict(self).items() if k != "test"}
        content["sources"] = [library.fingerprint(source, self.kind) for source in self.train]
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def load_families(path: Path = FAMILIES, library: SignalLibrary | None = None) -> dict[str, Family]:
    """The families declared in ``path``, each checked: a known kind, a positive length, offsets >= 0, two
    non-empty disjoint splits of manifest signals of that kind."""
    library = library or SignalLibrary()
    try:
        declared = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BenchError(f"cannot read the families file {path} ({exc}); restore datasets/families.toml") from None
    families = {}
    for name, fields in declared.items():
        where = f"family {name!r} in {path.name}"
        try:
            if not all(isinstance(fields[key], list) for key in ("offsets", "train", "test")):
                raise TypeError("offsets, train and test must be lists")
            family = Family(name, str(fields["kind"]), int(fields["length"]), tuple(int(o) for o in fields["offsets"]),
                            tuple(fields["train"]), tuple(fields["test"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise BenchError(f"{where} needs kind, length, offsets, train and test ({exc}); fix {path}") from None
        if family.kind not in KINDS:
            raise BenchError(f"{where}: kind {family.kind!r} has no pieces defined (kinds: {', '.join(KINDS)})")
        if family.length < 1 or not family.offsets or min(family.offsets) < 0:
            raise BenchError(f"{where}: length must be positive and offsets non-negative and given")
        if not family.train or not family.test:
            raise BenchError(f"{where}: both splits need a source")
        both = sorted(set(family.train) & set(family.test))
        if both:
            raise BenchError(f"{where}: {', '.join(both)} is in both splits; a source belongs to one split, so that "
                             f"no piece of a test signal is learned from")
        for source in family.train + family.test:
            entry = library.entries.get(source)
            if entry is None or entry.kind != family.kind:
                raise BenchError(f"{where}: {source!r} is not a {family.kind} signal of the manifest")
        families[name] = family
    return families


def family_named(name: str, library: SignalLibrary | None = None) -> Family:
    """The declared family ``name``; an unknown name is a usage error listing the declared ones."""
    families = load_families(library=library)
    if name not in families:
        raise UsageError(f"unknown signal family {name!r}{did_you_mean(name, families)}; declared in "
                         f"datasets/families.toml: {', '.join(families)}")
    return families[name]


def check_not_learned_from(family: Family, source: str | None, scheme: str, library: SignalLibrary) -> None:
    """Refuse to fit ``source`` with an init learned from ``family``'s train split when the source is one of its
    signals, by name or by content (a copy of a train clip under another path is the same signal): the init
    would be judged on a signal it learned from."""
    if source is None:
        return
    learned_from = {library.fingerprint(train, family.kind): train for train in family.train}
    same = learned_from.get(library.fingerprint(source, family.kind))  # a train name's is its manifest sha256
    if same is not None:
        shown = repr(source) if source == same else f"{source!r} (the content of {same!r})"
        raise UsageError(f"{scheme} learns from the train split of family {family.name!r}, which holds {shown}; "
                         f"fit a test-split signal ({', '.join(family.test)})")


def family_to_learn_from(name: str, signal, scheme: str, library: SignalLibrary) -> Family:
    """The family ``name`` a learned init ``scheme`` learns from to fit ``signal`` (its SignalInfo): refused when
    the family holds another kind of signal, or when the fitted signal is one of its train sources."""
    family = family_named(name, library)
    if signal.domain != family.kind:
        raise UsageError(f"{scheme}: family {name!r} holds {family.kind} signals, and this task fits {signal.domain}; "
                         f"choose a {signal.domain} family (datasets/families.toml)")
    check_not_learned_from(family, signal.source, scheme, library)
    return family


def train_pieces(family: Family, library: SignalLibrary) -> np.ndarray:
    """The train split's pieces [P, length] (float64), in ``pieces("train")`` order: the only way learning
    reads a family. A source of the test split never reaches it (refused, should a family say otherwise)."""
    from bench.tasks.audio import load_clip

    pieces = []
    for source, offset in family.pieces("train"):
        if source in family.test:
            raise UsageError(f"family {family.name!r}: test-split signal {source!r} cannot be learned from")
        samples, _ = load_clip(library, source, family.length, offset=offset)
        if len(samples) < family.length:
            raise BenchError(f"family {family.name!r}: {source} holds {offset + len(samples):,} samples, too few for "
                             f"a window of {family.length:,} at offset {offset:,}; lower the offsets")
        pieces.append(samples)
    return np.stack(pieces)
