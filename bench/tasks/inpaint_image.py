"""Image inpainting and super-resolution: train on part of an image (a random subset of the pixels, or every
K-th row and column) and score PSNR on the pixels left out; ``fit_psnr_db`` on those kept, and
``interp_psnr_db`` of linear interpolation between the kept pixels as a reference."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy.interpolate import griddata

from bench.masks import choose
from bench.registry import NonNegativeInt
from bench.signals import SignalLibrary
from bench.tasks import Task, held_out_task, register_task
from bench.tasks.image import image_task, load_image
from bench.tasks.inpaint_audio import MASK_HELP


@register_task(name="inpaint-image", domain="image",
               help={"side": "resize to SIDE x SIDE pixels (default: native size)", **MASK_HELP})
def inpaint_image(library: SignalLibrary, ref: str, side: int | None = None, keep: float | None = None,
                  stride: int | None = None, mask_seed: NonNegativeInt | None = None) -> Task:
    """Fit an image on some of its pixels, PSNR on the others (image's loading, then the mask)."""
    values = load_image(library, ref, side)
    whole = image_task("inpaint-image", ref, values)
    kept, settings = choose(whole.size, keep, stride, mask_seed, grid=values.shape[:2])
    task = held_out_task(whole, kept, lambda reference: whole.metric_from_mse, settings)
    return replace(task, meta=task.meta | {"interp_psnr_db": task.held_out.interpolated(
        interpolate(values, kept, task.held_out.index.numpy()))})


def interpolate(values: np.ndarray, kept: np.ndarray, held: np.ndarray) -> np.ndarray:
    """Values [M, C] at the held-out pixels (raster indices) by piecewise-linear interpolation between the kept
    pixels of values [H, W, C] (scipy's Delaunay-based griddata); pixels outside the kept points' convex hull
    take the nearest kept value."""
    height, width, channels = values.shape
    points = np.stack(np.divmod(kept, width), axis=1)
    targets = np.stack(np.divmod(held, width), axis=1)
    known = values.reshape(-1, channels)[kept]
    linear = griddata(points, known, targets, method="linear")
    outside = np.isnan(linear).any(axis=1)
    if outside.any():
        linear[outside] = griddata(points, known, targets[outside], method="nearest")
    return linear
