"""Sweep progress (bench.experiment.progress): the time left, from the timed cells."""

import numpy as np
import pandas as pd


def test_eta_comes_from_the_timed_cells_and_is_absent_without_any():
    from bench.experiment.progress import eta

    timed = pd.DataFrame({"seconds": [10.0, 10.0, np.nan], "ensemble_size": [2, 2, 1]})
    assert eta(timed, 4).endswith("at 5.0 s per cell so far")
    assert eta(timed.iloc[2:], 4) is None  # only a failed cell, which records no time
    assert eta(timed, 0) is None
