"""Masks (bench.signals.masks): strided grids, gaps and random subsets, and the options that go together."""

from __future__ import annotations

import numpy as np
import pytest

from bench.core.errors import UsageError
from bench.signals import masks


def test_masks_shapes_and_rules():
    grid = masks.strided_grid(6, 8, 2)
    assert len(grid) == 3 * 4 and all((i // 8) % 2 == 0 and (i % 8) % 2 == 0 for i in grid)
    for seed in range(20):
        kept = masks.gaps(500, 6, 30, seed)
        held = np.setdiff1d(np.arange(500), kept)
        runs = np.split(held, np.flatnonzero(np.diff(held) > 1) + 1)
        assert len(runs) == 6 and all(len(run) == 30 for run in runs)  # six separate gaps of 30
        assert kept[0] == 0 and kept[-1] == 499
    with pytest.raises(UsageError, match="--keep"):
        masks.random_subset(100, 1.0, 0)
    with pytest.raises(UsageError, match="one of --keep, --stride and --gaps"):
        masks.kept_samples(100, 0.5, 2, 0)
    with pytest.raises(UsageError, match="go together"):
        masks.kept_samples(100, None, None, 0, count=2)
    with pytest.raises(UsageError, match="do not fit"):
        masks.gaps(100, 5, 20, 0)
    with pytest.raises(UsageError, match="--stride"):
        masks.strided(100, 1)
