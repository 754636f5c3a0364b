"""Mid-run checkpoints: the whole state of a training loop (weights, Adam, StepLR, each member's tracking,
the minibatch generator, the step reached), saved every few minutes so that a run killed at a session's
end resumes where it last saved, bit for bit, instead of starting over."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from bench.core.errors import BenchWarning
from bench.core.files import write_atomically

DEFAULT_EVERY_S = 300.0  # seconds between saves: minutes lost at most, and a save costs well under a second


@dataclass
class Checkpoint:
    """Where one run's checkpoint lives, and how often it is saved (``every_s`` seconds of wall time; 0:
    after every step); ``cells``: the keys of the cells it trains, recorded in each save so that a checkpoint
    no ensemble will ask for again can be found (``saved_cells``). ``load`` gives the saved state or None;
    ``remove`` deletes it once the run's rows are stored."""

    path: Path
    every_s: float = DEFAULT_EVERY_S
    cells: tuple[str, ...] = ()
    _last: float = field(default_factory=time.perf_counter, repr=False)
    _warned: bool = field(default=False, repr=False)

    def due(self) -> bool:
        """Whether ``every_s`` has passed since the last save (or since this object was made)."""
        return time.perf_counter() - self._last >= self.every_s

    def save(self, state: dict[str, Any]) -> None:
        """Write ``state`` whole or not at all (a kill while saving keeps the previous checkpoint). A save that
        fails (a full disk, a folder that cannot be written) is warned of once, naming the file, and training
        goes on: a checkpoint is a head start, not a result."""
        try:
            write_atomically(self.path, lambda tmp: torch.save(state | {"cells": list(self.cells)}, tmp))
        except (OSError, RuntimeError) as exc:  # torch.save reports a failed write as a RuntimeError
            if not self._warned:
                warnings.warn(f"cannot save the checkpoint {self.path} ({str(exc).splitlines()[0]}); training goes "
                              f"on without one, so a kill now loses this run's progress: free space or make the "
                              f"folder writable", BenchWarning, stacklevel=2)
                self._warned = True
        self._last = time.perf_counter()

    def load(self) -> dict[str, Any] | None:
        """The saved state (on the CPU), or None when there is none."""
        if not self.path.is_file():
            return None
        return torch.load(self.path, map_location="cpu", weights_only=False)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def saved_cells(path: Path) -> set[str] | None:
    """The keys of the cells the checkpoint at ``path`` trains; None when it cannot be read or does not say."""
    try:
        cells = torch.load(path, map_location="cpu", weights_only=False).get("cells")
    except Exception:  # noqa: BLE001 - truncated, foreign or unpicklable: it does not say
        return None
    return set(cells) if isinstance(cells, list) and cells else None
