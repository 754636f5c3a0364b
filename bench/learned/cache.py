"""Where learned inits keep what they learned (bench.learned.meta_learned, bench.learned.strainer): one file per
learning, named by the sha256 of everything the learned weights depend on, so that a later member, run or
process with the same key reads it back instead of learning again, and a change of any input learns anew.
While it learns, its progress is saved beside it now and then (``LearningProgress``), so that a learning killed
midway resumes where it was saved and ends with the weights it would have had uninterrupted."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import torch

from bench.core.errors import BenchError, BenchWarning, UsageError
from bench.learned.families import Family
from bench.models.ensemble import Member
from bench.signals.library import SignalLibrary
from bench.core.caches import cache_root
from bench.core.files import write_atomically

CACHE_ENV = "BENCH_LEARNED_CACHE"
PROGRESS_ENV = "BENCH_LEARN_SAVE_SECONDS"
SAVE_SECONDS = 30.0  # how often a learning's progress is saved (at most; $BENCH_LEARN_SAVE_SECONDS)
KEY_CHARS = 20  # of a learning's key, in its file's name
# The files load_or_learn writes: <scheme>-<key>.pt, and <scheme>-<key>.partial.pt while it learns
LEARNED_NAME = re.compile(rf"\w+-[0-9a-f]{{{KEY_CHARS}}}(\.partial)?\.pt")


def save_seconds() -> float:
    """Seconds between saves of a learning's progress: $BENCH_LEARN_SAVE_SECONDS (a number >= 0), else
    ``SAVE_SECONDS``. Anything else is a usage error, which commands check before training anything."""
    given = os.environ.get(PROGRESS_ENV)
    if not given:
        return SAVE_SECONDS
    try:
        seconds = float(given)
    except ValueError:
        seconds = math.nan
    if not seconds >= 0:  # NaN fails this too
        raise UsageError(f"${PROGRESS_ENV} = {given!r} is not a number of seconds >= 0; set it to one (e.g. 30) "
                         f"or unset it")
    return seconds


def learned_cache_dir() -> Path:
    """$BENCH_LEARNED_CACHE, else ``learned/`` in the project's cache folder (``bench cache`` shows it)."""
    return Path(os.environ.get(CACHE_ENV) or cache_root() / "learned")


def learned_files(folder: Path) -> list[Path]:
    """The files of learned inits (and their progress) in ``folder``: what ``bench cache --clear`` removes."""
    return sorted(path for path in folder.iterdir() if path.is_file() and LEARNED_NAME.fullmatch(path.name)) \
        if folder.is_dir() else []


def learning_key(scheme: str, version: int, settings: dict, family: Family, library: SignalLibrary,
                 m: Member, seed: int) -> str:
    """sha256 (hex) of a learning's inputs: the scheme and its procedure's version, its settings, the family's
    fingerprint (definition and train-source content, not the test split), the network (layers and
    frequencies) and the member's weights it starts from, the learning seed and the torch version."""
    start = hashlib.sha256()
    for tensor in m.weights + m.biases:
        start.update(tensor.detach().contiguous().numpy().tobytes())
    content = {"scheme": scheme, "version": version, "torch": torch.__version__, "settings": settings,
               "start": start.hexdigest(),
               "family": family.fingerprint(library), "seed": seed, "omegas": m.omegas,
               "layers": [(layer.fan_in, layer.fan_out, getattr(layer.activation, "__name__", None),
                          # one flag where weights and bias agree, as keys were made before they were two
                          layer.train_weights if layer.train_weights == layer.train_bias
                          else [layer.train_weights, layer.train_bias]) for layer in m.layers]}
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


class LearningProgress:
    """A learning's progress on disk (``<scheme>-<key>.partial.pt``, written atomically): the tensors it
    trains, its optimizer's state, the generator that draws its pieces and the step it reached. ``restore``
    puts a saved state back (none when starting afresh); ``save`` writes the current one when at least
    ``SAVE_SECONDS`` have passed since the last write. ``seconds()``: wall seconds learned so far, over every
    process that worked on it."""

    def __init__(self, path: Path):
        self.path = path
        self.saved: dict[str, Any] | None = None
        if path.is_file():
            try:
                self.saved = torch.load(path, weights_only=True)
            except Exception as exc:  # whatever makes it unreadable (torn copy, another format): start afresh
                self._discard(f"cannot be read ({type(exc).__name__})")
        self._earlier = self.saved["seconds"] if self.saved and "seconds" in self.saved else 0.0
        self._started = self._last = time.perf_counter()
        self.every = save_seconds()

    def _discard(self, why: str) -> None:
        warnings.warn(f"the saved progress {self.path} {why}; learning from the start", BenchWarning, stacklevel=3)
        self.saved = None
        self._earlier = 0.0
        self.path.unlink(missing_ok=True)

    def seconds(self) -> float:
        return self._earlier + time.perf_counter() - self._started

    def restore(self, tensors: list[torch.Tensor], optimizer: torch.optim.Optimizer | None = None,
                draws: torch.Generator | None = None) -> int:
        """Copy the saved state into ``tensors`` (in place), ``optimizer`` and ``draws``; the step to go on
        from (0 when nothing was saved)."""
        needed = {"step", "tensors", "seconds"} | ({"optimizer"} if optimizer is not None else set()) | (
            {"draws"} if draws is not None else set())
        if self.saved is not None and not (isinstance(self.saved, dict) and needed <= self.saved.keys() and [
                t.shape for t in tensors] == [t.shape for t in self.saved["tensors"]]):
            self._discard("does not fit this learning (saved by another version?)")
        if self.saved is None:
            return 0
        with torch.no_grad():
            for tensor, saved in zip(tensors, self.saved["tensors"]):
                tensor.copy_(saved)
        if optimizer is not None:
            optimizer.load_state_dict(self.saved["optimizer"])
        if draws is not None:
            draws.set_state(self.saved["draws"])
        return self.saved["step"]

    def save(self, step: int, tensors: list[torch.Tensor], optimizer: torch.optim.Optimizer | None = None,
             draws: torch.Generator | None = None) -> None:
        """Write the state after ``step`` steps, if due: what ``restore`` puts back."""
        if time.perf_counter() - self._last < self.every:
            return
        state = {"step": step, "tensors": [t.detach() for t in tensors], "seconds": self.seconds()}
        if optimizer is not None:
            state["optimizer"] = optimizer.state_dict()
        if draws is not None:
            state["draws"] = draws.get_state()
        write_atomically(self.path, lambda tmp: torch.save(state, tmp))
        self._last = time.perf_counter()


def load_or_learn(scheme: str, key: str, rates: dict[str, float], learn: Callable[[LearningProgress], dict]) -> dict:
    """The learned state of ``key``: read from its file, or ``learn(progress)``-ed (resuming from the progress a
    killed learning saved; ``resumed_from`` records its step, 0 for none) and written there atomically, its
    progress file then removed. A learning that diverged (non-finite weights) is an error naming the scheme's
    learning ``rates`` (name -> value), and is not cached."""
    path = learned_cache_dir() / f"{scheme}-{key[:KEY_CHARS]}.pt"
    cached = _read_learned(path)
    if cached is not None:
        return cached
    progress = LearningProgress(path.with_suffix(".partial.pt"))
    learned = learn(progress) | {"resumed_from": progress.saved["step"] if progress.saved else 0}
    if not all(torch.isfinite(t).all() for t in learned["weights"] + learned["biases"]):
        given = ", ".join(f"{name} = {value:g}" for name, value in rates.items())
        raise BenchError(f"{scheme} diverged while learning its init ({given}: non-finite weights), so nothing was "
                         f"cached; lower that learning rate")
    write_atomically(path, lambda tmp: torch.save(learned, tmp))
    progress.path.unlink(missing_ok=True)
    return learned


def _read_learned(path: Path) -> dict | None:
    """The learned state cached at ``path``, or None when there is none. A file that cannot be read as one
    (torn, another format) is removed with a warning naming it, so that it is learned anew rather than failing
    every member that needs it."""
    if not path.is_file():
        return None
    try:
        learned = torch.load(path, weights_only=True)
        if isinstance(learned, dict) and {"weights", "biases", "seconds", "member_steps"} <= learned.keys():
            return learned
        why = "does not hold a learned init"
    except Exception as exc:  # whatever makes it unreadable; never retried with weights_only=False (unsafe)
        why = f"cannot be read ({type(exc).__name__})"
    warnings.warn(f"the learned init {path} {why}; removed it and learning anew", BenchWarning, stacklevel=3)
    path.unlink(missing_ok=True)
    return None
