"""Image inpainting and super-resolution: train on part of an image (a random subset of the pixels, or every
K-th row and column) and score PSNR on the pixels left out; ``fit_psnr_db`` on those kept, and
``interp_psnr_db`` of linear interpolation between the kept pixels as a reference."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy.interpolate import RegularGridInterpolator, griddata

from bench.signals.masks import kept_samples, without_default_mask
from bench.core.registry import NonNegativeInt, PositiveInt, Seed32
from bench.signals.library import SignalLibrary
from bench.tasks import Task, held_out_task, register_task
from bench.tasks.image import IMAGE_HELP, crop_at_origin, image_task, load_crop
from bench.tasks.inpaint_audio import MASK_HELP


@register_task(name="inpaint-image", domain="image",
               help=IMAGE_HELP | MASK_HELP,
               effective=lambda library, ref, options: without_default_mask(crop_at_origin(library, ref, options)))
def inpaint_image(library: SignalLibrary, ref: str, side: PositiveInt | None = None, crop: PositiveInt | None = None,
                  crop_row: NonNegativeInt | None = None, crop_col: NonNegativeInt | None = None,
                  keep: float | None = None, stride: int | None = None, mask_seed: Seed32 | None = None) -> Task:
    """Fit an image (or a crop of it) on some of its pixels, PSNR on the others (image's loading, then the mask)."""
    values = load_crop(library, ref, side, crop, crop_row, crop_col)
    whole = image_task("inpaint-image", ref, values)
    kept, settings = kept_samples(whole.size, keep, stride, mask_seed, grid=values.shape[:2])
    task = held_out_task(whole, kept, lambda reference: whole.metric_from_mse, settings)
    return replace(task, meta=task.meta | {"interp_psnr_db": task.held_out.interpolated(
        interpolate(values, kept, task.held_out.index.numpy(), stride))})


def interpolate(values: np.ndarray, kept: np.ndarray, held: np.ndarray, stride: int | None = None) -> np.ndarray:
    """Values [M, C] at the held-out pixels (raster indices) from the kept pixels of values [H, W, C]: on a
    ``stride`` grid bilinear interpolation between the kept rows and columns (scipy's RegularGridInterpolator;
    rows and columns beyond the last kept one take its values), otherwise piecewise-linear interpolation over
    the Delaunay triangles of the kept pixels (scipy's griddata), with the nearest kept value outside their
    convex hull. (A triangulation of a regular grid splits its squares along arbitrary diagonals, hence the
    two cases.)"""
    height, width, channels = values.shape
    targets = np.stack(np.divmod(held, width), axis=1)  # (row, col), as the raster index row * width + col
    if stride is not None:
        rows, cols = np.arange(0, height, stride), np.arange(0, width, stride)
        grid = RegularGridInterpolator((rows, cols), values[::stride, ::stride], method="linear")
        return grid(np.minimum(targets, [rows[-1], cols[-1]]))
    points = np.stack(np.divmod(kept, width), axis=1)
    known = values.reshape(-1, channels)[kept]
    linear = griddata(points, known, targets, method="linear")
    outside = np.isnan(linear).any(axis=1)
    if outside.any():
        linear[outside] = griddata(points, known, targets[outside], method="nearest")
    return linear
