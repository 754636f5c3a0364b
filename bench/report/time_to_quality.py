"""Steps (and seconds) each run took to reach the levels of its metric, from the training curve every
row holds: written into new rows at training time, and computed here for rows stored before that."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.core.columns import CURVE_STEPS, curve_column
from bench.core.metrics import METRICS, time_to_quality


def is_curve(value) -> bool:
    """Whether a cell holds a curve (a list or array), not None or the NaN a merge of older files leaves."""
    return isinstance(value, (list, tuple, np.ndarray))


def with_time_to_quality(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with ``steps_to_*`` and ``seconds_to_*`` columns for every metric with levels whose curve
    they hold (``curve_{metric}``, ``curve_steps``, ``seconds``, ``steps``); rows without that curve keep NaN."""
    needed = {CURVE_STEPS, "seconds", "steps"}
    if not needed <= set(rows.columns):
        return rows
    rows = rows.copy()
    for metric, declaration in METRICS.items():
        curve = curve_column(metric)
        if not declaration.levels or curve not in rows:
            continue
        found = [time_to_quality(metric, list(row[CURVE_STEPS]), list(row[curve]), row["seconds"], row["steps"])
                 if is_curve(row[curve]) and is_curve(row[CURVE_STEPS]) else {}
                 for _, row in rows.iterrows()]
        for column in dict.fromkeys(key for columns in found for key in columns):
            rows[column] = [columns.get(column, float("nan")) for columns in found]
    return rows
