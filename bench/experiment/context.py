"""How an experiment runs, apart from what it computes: one object the API, the planner, the runner and the
executors read, instead of flags handed down through every signature.

A spec says what each cell is; none of the context enters a cell's key. Where a choice here can change a
member's numbers (device, compiling, the ensemble size on CUDA), the rows record it (``numerics``, the
device) and table captions name cells that pool seeds made differently."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from bench.experiment.executors import LocalExecutor, RayExecutor
from bench.signals.library import SignalLibrary
from bench.training.checkpoint import DEFAULT_EVERY_S


def to_stderr(line: str) -> None:
    """The default ``Context.say``: one line on stderr, flushed (a log follows the run as it goes)."""
    print(line, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Context:
    """device: where a local run trains; executor: where ensembles train (None: here, on ``device``);
    compile: the training step through torch.compile; max_members: members per ensemble (None: the spec's,
    else measured on a CPU, see ``bench.perf.sizing``); checkpoint_every_s: how often a local ensemble saves
    its state (None: never); retrain_changed: train again stored cells whose code changed (else refused);
    library: where signals are read (``--data-dir``); threads: torch's CPU threads for a run here on a CPU
    ("auto": every CPU the process may use, whatever the load; or a count); progress: progress bars; debug:
    tracebacks rather than failed rows; say: where the run's one-line messages go."""

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    executor: LocalExecutor | RayExecutor | None = None
    compile: bool = False
    max_members: int | None = None
    checkpoint_every_s: float | None = DEFAULT_EVERY_S
    retrain_changed: bool = False
    library: SignalLibrary = field(default_factory=SignalLibrary)
    threads: str | int = "auto"
    progress: bool = True
    debug: bool = False
    say: Callable[[str], None] = to_stderr

    @property
    def runs_here(self) -> bool:
        """Whether ensembles train in this process (no Ray)."""
        return self.executor is None or isinstance(self.executor, LocalExecutor)

    def where(self) -> LocalExecutor | RayExecutor:
        """The executor that trains the ensembles."""
        return self.executor or LocalExecutor(self.device)
