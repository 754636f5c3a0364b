"""What a member keeps to look at beside the rows: its output over the whole signal and the reference there,
one compressed NumPy file per cell, ``DIR/_artifacts/<cell_key>.npz`` (a whole signal per member would make the
rows file hundreds of times larger). ``bench.experiment.reconstruct`` writes them; reports draw them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bench.core.files import write_atomically

ARTIFACTS_DIR = "_artifacts"  # "_": Parquet readers of DIR (pandas.read_parquet(DIR), pyarrow, polars, duckdb) skip it
# the arrays of an artifact: output and reference [N, d_out] float32 (N points in grid order), grid (the signal's
# shape, (N,) or (H, W)), sample_rate (audio; NaN otherwise), seed, the row's metric (stored) and the rerun's
# (rerun); and its labels: cell_key, signal, model_spec, metric (the column of stored and rerun)
ARRAYS = ("output", "reference", "grid", "sample_rate", "seed", "stored", "rerun")
LABELS = ("cell_key", "signal", "model_spec", "metric")


def artifact_path(folder: Path, cell_key: str) -> Path:
    return Path(folder) / ARTIFACTS_DIR / f"{cell_key}.npz"


def write_artifact(path: Path, content: dict[str, Any]) -> None:
    """Write one artifact whole or not at all; ``content`` holds every name of ARRAYS and LABELS."""
    missing = [name for name in (*ARRAYS, *LABELS) if name not in content]
    if missing:
        raise ValueError(f"an artifact needs {', '.join(missing)}")

    def save(tmp: Path) -> None:
        with open(tmp, "wb") as handle:  # a handle: given a name, numpy would append ".npz" to the temp file's
            np.savez_compressed(handle, **{name: np.asarray(content[name]) for name in (*ARRAYS, *LABELS)})

    write_atomically(path, save)


def read_artifact(path: Path) -> dict[str, Any]:
    """An artifact's arrays (ARRAYS) and labels (LABELS, as str)."""
    with np.load(path) as kept:
        return {name: kept[name] for name in ARRAYS} | {name: str(kept[name]) for name in LABELS}
