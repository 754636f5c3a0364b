"""Results store: every row of a results directory in one Parquet file, ``results.parquet``, replaced
atomically on each write.

One file with one schema is what makes a plain ``pd.read_parquet(DIR)`` (or pyarrow.dataset, polars,
duckdb) return every row with every column: readers of a folder of many files take the schema of the
first file, and drop the columns that only later files have (another task's metrics, a plugin's
parameters, rows of a newer version). Each write reads the stored rows, appends the new ones, keeps one
row per cell (the latest written: rows stay in write order) and replaces the file through a hidden temp
file, flushed, then renamed: a reader, or a crash at any moment, sees the old file or the new one, never
part of one. The cost is a rewrite of the table per write (about a second for 10,000 rows), paid once
per ensemble. Directories written by older versions (one file per ensemble, ``<time>-<id>.parquet``
holding that id in its ``run_id`` column) are read as they are and merged into ``results.parquet`` by the
next write (``migrate`` does it without a write). Any other Parquet file a reader of the directory would
take in (a backup, another run's file) is an error naming it: never merged, never deleted.

A column whose rows hold values of several types that no one Parquet type holds (a plugin's text ``w0``
beside siren's float one) is stored as text. A write that fails anyway (a full disk) keeps the new rows
in a file beside the results and says where.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from bench.core.files import write_atomically
from bench.core.errors import BenchError

RESULTS_FILE = "results.parquet"
# The per-ensemble files of older versions were named by new_run_id: to the second at first, later to the microsecond
LEGACY_NAME = re.compile(r"\d{8}T\d{6}(\d{6})?-[0-9a-f]{6}\.parquet")
KEPT_PREFIX = "_unsaved-"  # rows a failed write kept ("_": Parquet readers of the directory skip the file)


def new_run_id() -> str:
    """Unique id of one write: UTC time to the microsecond plus a random suffix (the ``run_id`` column)."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f") + "-" + uuid.uuid4().hex[:6]


def write_rows(out_dir: str | Path, rows: list[dict[str, Any]], run_id: str | None = None) -> Path:
    """Add ``rows`` (tagged with ``run_id``) to ``out_dir/results.parquet`` atomically and return its path.
    A row replaces a stored row of the same ``cell_key`` (a failed cell run again). Hold the directory's
    lock (``bench.experiment.run.results_lock``): two writers at once would lose each other's rows. A write that
    fails (a full disk, a foreign file in the directory) changes nothing stored and is a BenchError naming
    the file the new rows were kept in instead."""
    out_dir = Path(out_dir)
    run_id = run_id or new_run_id()
    new = pd.DataFrame(rows).assign(run_id=run_id)
    try:
        return _replace(out_dir, new)
    except Exception as exc:  # whatever the cause, the rows took training to make: keep them before reporting it
        raise BenchError(f"cannot store {len(new)} rows in {out_dir / RESULTS_FILE} ({_reason(exc)}); "
                         f"{_keep(new, out_dir, run_id)}") from exc


def _keep(rows: pd.DataFrame, out_dir: Path, run_id: str) -> str:
    """Save ``rows`` that could not be stored (a pickle: any value survives), beside the results or else in
    the system's temporary folder; the sentence that says where."""
    failures = []
    for folder in (out_dir, Path(tempfile.gettempdir())):
        path = folder / f"{KEPT_PREFIX}{run_id}.pkl"
        try:
            write_atomically(path, rows.to_pickle)
        except OSError as exc:
            failures.append(f"{path}: {_reason(exc)}")
            continue
        return (f"the rows are kept in {path} (pandas.read_pickle reads them); fix that and rerun, which trains "
                f"their cells again")
    return f"the rows could not be kept either ({'; '.join(failures)})"


def migrate(results_dir: str | Path) -> Path | None:
    """Merge the per-ensemble files of an older version into ``results.parquet`` (rows and their order
    unchanged); None when there is nothing to merge."""
    results_dir = Path(results_dir)
    return _replace(results_dir, None) if _legacy_files(results_dir) else None


def _replace(out_dir: Path, new: pd.DataFrame | None) -> Path:
    legacy = _legacy_files(out_dir)
    frames = [frame for frame in (_stored(out_dir, legacy), new) if frame is not None]
    merged = _text_where_mixed(_one_row_per_cell(pd.concat(frames, ignore_index=True).infer_objects()))
    path = write_atomically(out_dir / RESULTS_FILE, lambda tmp: merged.to_parquet(tmp, index=False))
    for old in legacy:  # their rows are in results.parquet now; one left behind only leaves duplicates
        with contextlib.suppress(OSError):  # ... so the rows just stored are not reported as lost
            old.unlink()
    return path


def _text_where_mixed(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with each column that holds values of several types no one Parquet type holds (text beside
    numbers, a list beside a number) as text, its missing values kept missing."""
    mixed = {name: rows[name] for name in rows.columns[rows.dtypes == object]
             if len({type(value) for value in rows[name].dropna()}) > 1 and not _one_type(rows[name])}
    return rows.assign(**{name: [None if missing else str(value) for value, missing in zip(column, column.isna())]
                          for name, column in mixed.items()})


def _one_type(column: pd.Series) -> bool:
    """Whether pyarrow stores ``column`` as a column of one type (ints beside floats are doubles, say)."""
    try:
        pa.array(column, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return False
    return True


def _legacy_files(results_dir: Path) -> list[Path]:
    """Per-ensemble files of older versions, in the order they were written (their names sort by time). Any
    other Parquet file that readers of the directory would take in (not ``_``- or ``.``-prefixed) is a
    one-line error naming it."""
    if not results_dir.is_dir():
        return []
    found = sorted(path for path in results_dir.glob("*.parquet")
                   if path.name != RESULTS_FILE and not path.name.startswith(("_", ".")))
    for path in found:
        if not LEGACY_NAME.fullmatch(path.name):
            raise BenchError(f"cannot read results file {path} (bench names its results {RESULTS_FILE}, older "
                             f"versions <time>-<id>.parquet; a reader of the directory would mix this file's "
                             f"rows in); move it out of the directory")
    return found


def _read(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    """One results file (all columns, or those of ``columns`` it has); a corrupt or foreign one (no ``status``
    column) is a one-line error naming it, and nothing is changed."""
    try:
        if columns is not None:
            present = set(pq.read_schema(path).names)
            columns = [column for column in columns if column in present]
        frame = pd.read_parquet(path, columns=columns)
        if "status" not in frame:
            raise ValueError("no status column: not written by bench run or bench sweep")
    except Exception as exc:  # ArrowInvalid (not Parquet, truncated), a missing column (foreign file), OSError
        raise BenchError(f"cannot read results file {path} ({_reason(exc)}); move it out of the directory") from None
    return frame


def _reason(exc: Exception) -> str:
    """What went wrong, in one line: an OSError's text without its number and path (``No space left on
    device``), else the first line of the message."""
    if isinstance(exc, OSError) and exc.errno:
        return exc.strerror or os.strerror(exc.errno)
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


def _read_legacy(path: Path) -> pd.DataFrame:
    """A per-ensemble file of an older version; one whose rows do not all carry its name as ``run_id`` was
    not written by bench (a copy, another tool's file) and is a one-line error naming it."""
    frame = _read(path)
    if "run_id" not in frame or not frame["run_id"].eq(path.stem).all():
        raise BenchError(f"cannot read results file {path} (its rows' run_id is not {path.stem!r}, as in the files "
                         f"older versions of bench wrote); move it out of the directory")
    return frame


def _stored(results_dir: Path, legacy: list[Path], columns: list[str] | None = None) -> pd.DataFrame | None:
    """Every stored row in write order: the files of an older version (which the next write merges), then
    ``results.parquet``; None when there are none."""
    current = results_dir / RESULTS_FILE
    # older files first: a merge killed after its rename leaves them beside the newer rows it wrote
    frames = [_read_legacy(path) for path in legacy]  # small, and an old one may lack some of ``columns``
    frames = [frame[[c for c in columns or frame.columns if c in frame]] for frame in frames]
    if current.is_file():
        frames.append(_read(current, columns))
    if not frames:
        return None
    return _one_row_per_cell(pd.concat(frames, ignore_index=True))


def _one_row_per_cell(rows: pd.DataFrame) -> pd.DataFrame:
    """The latest row of each cell (rows without a ``cell_key`` are kept as they are)."""
    if "cell_key" not in rows:
        return rows
    return rows[~rows["cell_key"].notna() | ~rows.duplicated("cell_key", keep="last")].reset_index(drop=True)


def finished_cells(results_dir: str | Path) -> pd.DataFrame:
    """``cell_key``, latest ``status`` and what made it (``model_code``, ``task_code``, and a learned init's
    ``family_fingerprint``: absent or None for rows from before it was recorded) of every cell stored in
    ``results_dir`` (empty when there is none)."""
    results_dir = Path(results_dir)
    columns = ["cell_key", "status", "model_code", "task_code", "family_fingerprint"]
    stored = _stored(results_dir, _legacy_files(results_dir), columns=columns)
    stored = stored if stored is not None else pd.DataFrame({"cell_key": [], "status": []})
    return stored.reindex(columns=columns)


def has_results(results_dir: str | Path) -> bool:
    """Whether ``results_dir`` holds stored rows (of this version or an older one)."""
    results_dir = Path(results_dir)
    return (results_dir / RESULTS_FILE).is_file() or bool(_legacy_files(results_dir))


def read_results(results_dir: str | Path) -> pd.DataFrame:
    """Every stored row of ``results_dir``, one per cell (its latest), in write order. The same rows as
    ``pd.read_parquet(results_dir)`` once the directory is in this version's layout."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise BenchError(f"results directory not found: {results_dir}; pass the --out of a bench run")
    stored = _stored(results_dir, _legacy_files(results_dir))
    if stored is None:
        inner = sorted({path.parent for path in results_dir.rglob("*.parquet")})
        hint = (f" ({', '.join(str(p) for p in inner[:3])} inside it do: pass one of them)" if inner
                else f"; run `bench run --out {results_dir}` first")
        raise BenchError(f"no results ({RESULTS_FILE}) in {results_dir}{hint}")
    # infer_objects: a column that was all None in one older file (e.g. diverged_step) becomes numeric again
    return stored.infer_objects()
