"""Results store: one Parquet file per run under a results directory, written atomically.

Each write goes to a hidden temp file in the same directory, is flushed to disk, then renamed over
its final name, so readers (and a crash at any moment) only ever see whole files. Any reader can
glob ``**/*.parquet`` under the directory.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from bench.errors import BenchError


def new_run_id() -> str:
    """Unique file name that sorts in time order: UTC time to the microsecond plus a random suffix
    (readers take a cell's latest row by this order)."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f") + "-" + uuid.uuid4().hex[:6]


def write_atomically(path: Path, content: str | Callable[[Path], None]) -> Path:
    """Write ``path`` whole or not at all: into a hidden temp file beside it (``content`` is text, or a
    function that writes the given path), flushed to disk, then renamed over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if callable(content):
            content(tmp)
        else:
            tmp.write_text(content)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_rows(out_dir: str | Path, rows: list[dict[str, Any]], run_id: str | None = None) -> Path:
    """Write rows to ``out_dir/<run_id>.parquet`` atomically and return its path."""
    run_id = run_id or new_run_id()
    frame = pd.DataFrame(rows).assign(run_id=run_id)
    return write_atomically(Path(out_dir) / f"{run_id}.parquet", lambda tmp: frame.to_parquet(tmp, index=False))


def _read(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    """One results file (all columns, or ``columns``); a corrupt or foreign one (no ``status`` column) is a
    one-line error naming it, and nothing is changed."""
    try:
        frame = pd.read_parquet(path, columns=columns)
        if "status" not in frame:
            raise ValueError("no status column: not written by bench run or bench sweep")
    except Exception as exc:  # ArrowInvalid (not Parquet, truncated), a missing column (foreign file), OSError
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BenchError(f"cannot read results file {path} ({reason}); move it out of the directory") from None
    return frame


def finished_cells(results_dir: str | Path) -> pd.DataFrame:
    """``cell_key`` and latest ``status`` of every cell stored under ``results_dir`` (empty when there is none)."""
    files = sorted(Path(results_dir).rglob("*.parquet")) if Path(results_dir).is_dir() else []
    frames = [_read(path, columns=["cell_key", "status"]) for path in files]
    if not frames:
        return pd.DataFrame({"cell_key": [], "status": []})
    return pd.concat(frames, ignore_index=True).drop_duplicates("cell_key", keep="last")


def read_results(results_dir: str | Path) -> pd.DataFrame:
    """All rows of every ``*.parquet`` file under ``results_dir`` (recursively), in file-name order; of
    several rows of one cell (a failed cell run again), the latest."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise BenchError(f"results directory not found: {results_dir}; pass the --out of a bench run")
    files = sorted(results_dir.rglob("*.parquet"))
    if not files:
        raise BenchError(f"no results (*.parquet) under {results_dir}; run `bench run --out {results_dir}` first")
    frames = [_read(path) for path in files]
    # infer_objects: a column that was all None in one file (e.g. diverged_step) becomes numeric again
    results = pd.concat(frames, ignore_index=True).infer_objects()
    if "cell_key" in results:  # a failed cell run again: its latest row (files sort by time) is its result
        results = results.drop_duplicates("cell_key", keep="last", ignore_index=True)
    return results
