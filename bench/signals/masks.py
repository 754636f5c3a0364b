"""Which points of a signal the generalization tasks train on: a random subset, every K-th sample (or row
and column), or a clip with contiguous gaps. Each function returns the sorted indices of the kept points,
in the signal's raster order (audio: sample index; images: row * width + col), as int64 [n_kept]; every
other point is held out. A mask depends on its settings and ``seed`` alone, never on the model or the
init seed of a member. Random draws use numpy's legacy ``RandomState``, whose streams NumPy keeps fixed
across versions (NEP 19), rather than ``default_rng``, whose methods may change theirs: a resumed sweep
must train its remaining cells on the very mask its first cells saw (``digest`` identifies it in every
row)."""

from __future__ import annotations

import hashlib

import numpy as np

from bench.core.errors import UsageError

DEFAULT_KEEP = 0.5  # fraction of the points a random mask keeps when no mask option is given


def random_subset(n: int, keep: float, seed: int) -> np.ndarray:
    """round(keep * n) of the n points, drawn without replacement (the first of a seeded permutation); at least
    one point is kept and one held out."""
    if not 0 < keep < 1:
        raise UsageError(f"--keep must lie strictly between 0 and 1 (the fraction of points trained on), got {keep}")
    count = round(keep * n)
    if not 0 < count < n:
        raise UsageError(f"--keep {keep} of {n} points keeps {count}: nothing to train on or nothing held out; "
                         f"raise or lower --keep, or use a longer signal")
    return np.sort(np.random.RandomState(seed).permutation(n)[:count]).astype(np.int64)


def strided(n: int, stride: int) -> np.ndarray:
    """Samples 0, K, 2K, ... of n: super-resolution by K = stride."""
    _check_stride(stride, n)
    return np.arange(0, n, stride, dtype=np.int64)


def strided_grid(height: int, width: int, stride: int) -> np.ndarray:
    """Pixels on every K-th row and every K-th column (from row and column 0) of a height x width raster."""
    _check_stride(stride, min(height, width))
    rows, cols = np.arange(0, height, stride), np.arange(0, width, stride)
    return (rows[:, None] * width + cols[None, :]).reshape(-1).astype(np.int64)


def _check_stride(stride: int, n: int) -> None:
    if not 2 <= stride < n:
        raise UsageError(f"--stride must be an integer from 2 (every other point) to {n - 1} for this signal, "
                         f"got {stride}")


def gaps(n: int, count: int, length: int, seed: int) -> np.ndarray:
    """n samples less ``count`` contiguous gaps of ``length`` samples each, at random places: the gaps never
    overlap or touch (at least one kept sample between two gaps) and never include the first or last sample,
    so that every gap is inpainting between kept samples, not extrapolation."""
    if count < 1 or length < 1:
        raise UsageError(f"--gaps and --gap-length must be positive integers, got {count} and {length}")
    free = n - count * length  # kept samples
    if free - 1 < count:  # room for the first and last samples and one sample between gaps
        raise UsageError(f"{count} gaps of {length} samples do not fit into {n} samples with kept samples between "
                         f"them; use fewer or shorter gaps, or a longer clip")
    # Distinct sorted offsets s_0 < ... < s_{count-1} in [1, free - 1]; gap i starts at s_i + i * length.
    offsets = np.sort(np.random.RandomState(seed).permutation(np.arange(1, free))[:count])
    held = np.zeros(n, dtype=bool)
    for i, offset in enumerate(offsets):
        start = offset + i * length
        held[start:start + length] = True
    return np.flatnonzero(~held).astype(np.int64)


def digest(kept: np.ndarray) -> str:
    """Eight hex digits identifying a mask (sha256 of its kept indices), stored with every row."""
    return hashlib.sha256(np.ascontiguousarray(kept, dtype=np.int64).tobytes()).hexdigest()[:8]


def without_default_mask(options: dict) -> dict:
    """Inpainting options without the spelled-out default mask (``keep`` 0.5 when no other kind of mask is
    given; ``mask_seed`` 0 where a seed applies), so that a spec writing them makes the same cell as one
    leaving them out (a stride mask keeps a seed given, for the task to refuse)."""
    random_mask = options.get("stride") is None and options.get("gaps") is None
    return {key: value for key, value in options.items()
            if not (key == "keep" and random_mask and value == DEFAULT_KEEP)
            and not (key == "mask_seed" and value == 0 and type(value) is int and options.get("stride") is None)}


def kept_samples(n: int, keep: float | None, stride: int | None, seed: int | None, count: int | None = None,
           length: int | None = None, grid: tuple[int, int] | None = None) -> tuple[np.ndarray, dict]:
    """The kept indices of one of the three masks, by the options given (one kind at a time: ``keep``, the
    default, a random subset; ``stride``; ``count`` gaps of ``length`` samples), and the result columns that
    name it: ``mask`` (a label such as "keep 0.5 seed 0", "stride 4", "8 gaps x 1000 seed 0") and its
    settings. ``grid`` (height, width): an image, whose stride applies to rows and columns."""
    if (count is None) != (length is None):
        raise UsageError("--gaps and --gap-length go together: give both (N gaps of L samples each) or neither")
    kinds = [flag for flag, value in (("--keep", keep), ("--stride", stride), ("--gaps", count)) if value is not None]
    if len(kinds) > 1:
        raise UsageError(f"give one of --keep, --stride and --gaps (one kind of mask), not {' and '.join(kinds)}")
    settings = {"keep": None, "stride": None, "gaps": None, "gap_length": None, "mask_seed": None}
    if stride is not None:
        if seed is not None:
            raise UsageError("--mask-seed applies to random masks (--keep) and gaps (--gaps); a --stride mask has none")
        kept = strided(n, stride) if grid is None else strided_grid(*grid, stride)
        return kept, settings | {"mask": f"stride {stride}", "stride": stride}
    seed = 0 if seed is None else seed
    if count is not None:
        return gaps(n, count, length, seed), settings | {"mask": f"{count} gaps x {length} seed {seed}",
                                                          "gaps": count, "gap_length": length, "mask_seed": seed}
    keep = DEFAULT_KEEP if keep is None else keep
    return random_subset(n, keep, seed), settings | {"mask": f"keep {keep:g} seed {seed}", "keep": keep,
                                                      "mask_seed": seed}
