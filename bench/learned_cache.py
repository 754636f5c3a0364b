"""Where learned inits keep what they learned (bench.models.meta_learned, bench.models.strainer): one file per
learning, named by the sha256 of everything the learned weights depend on, so that a later member, run or
process with the same key reads it back instead of learning again, and a change of any input learns anew."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable

import torch

from bench.families import Family
from bench.models.ensemble import Member
from bench.signals import SignalLibrary
from bench.speed.caches import cache_root
from bench.store import write_atomically

CACHE_ENV = "BENCH_LEARNED_CACHE"


def learned_cache_dir() -> Path:
    """$BENCH_LEARNED_CACHE, else ``learned/`` in the project's cache folder (``bench cache`` shows it)."""
    return Path(os.environ.get(CACHE_ENV) or cache_root() / "learned")


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
               "layers": [(layer.fan_in, layer.fan_out, getattr(layer.activation, "__name__", None), layer.trainable)
                          for layer in m.layers]}
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


def load_or_learn(scheme: str, key: str, learn: Callable[[], dict]) -> dict:
    """The learned state of ``key``: read from its file, or ``learn()``-ed and written there atomically."""
    path = learned_cache_dir() / f"{scheme}-{key[:20]}.pt"
    if path.is_file():
        return torch.load(path, weights_only=True)
    learned = learn()
    write_atomically(path, lambda tmp: torch.save(learned, tmp))
    return learned
