"""Image inpainting and super-resolution: train on part of an image (a random subset of the pixels, or every
K-th row and column) and score PSNR on the pixels left out; ``fit_psnr_db`` on those kept."""

from __future__ import annotations

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
    return held_out_task(whole, kept, lambda reference: whole.metric_from_mse, settings)
