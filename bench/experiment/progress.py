"""How far a sweep has come, for a person: a progress bar on a terminal, else (a log file, CI, nohup,
--no-progress) one line per finished ensemble with cells done, elapsed time and the ETA."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

if TYPE_CHECKING:
    import pandas as pd


def duration(seconds: float) -> str:
    """``1h02m`` or ``3m05s``."""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def eta(results: pd.DataFrame | None, left: int) -> str | None:
    """``ETA 1h02m at 3.1 s per cell so far`` for ``left`` cells, at the mean time per cell of the results so
    far (an ensemble's seconds shared by its members); None when nothing is left or the results hold no timings."""
    if not left or results is None or "seconds" not in results:
        return None
    timed = results[results["seconds"].notna()]
    if timed.empty:  # only failed cells so far: they record no time
        return None
    per_cell = (timed["seconds"] / timed["ensemble_size"]).mean()
    return f"ETA {duration(per_cell * left)} at {per_cell:.1f} s per cell so far"


class CellProgress:
    """Counts finished cells out of ``total``; ``bar``: draw a tqdm bar when stderr is a terminal."""

    def __init__(self, total: int, bar: bool = True):
        self.total, self.done, self.started = total, 0, time.perf_counter()
        self.bar = tqdm(total=total, unit="cell", desc="cells", position=0) if bar and sys.stderr.isatty() else None

    def update(self, rows: list[dict[str, Any]]) -> None:
        """One finished ensemble's rows."""
        self.done += len(rows)
        if self.bar is not None:
            self.bar.update(len(rows))
            return
        elapsed = time.perf_counter() - self.started
        eta = duration(elapsed / self.done * (self.total - self.done)) if self.done < self.total else "0m00s"
        first = rows[0] if rows else {}
        what = f"{first.get('task', '?')}:{first.get('signal', '?')} " + ", ".join(
            f"{row.get('model_spec')}/seed {row.get('seed')} {row.get('status')}" for row in rows)
        print(f"{self.done}/{self.total} cells, {duration(elapsed)} elapsed, ETA {eta}: {what}",
              file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> CellProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
