"""Poisson reconstruction (SIREN paper): fit an image through its Sobel gradient or its Laplacian.

The network's derivatives come from autograd with respect to each member's own copy of the coordinates
(create_graph, so the loss trains through them): one batched pass for all members. Targets are in
coordinate units (the grid spans [-1, 1]): Sobel / 8 per pixel times (n - 1) / 2; the second differences
[1, -2, 1] times ((n - 1) / 2)^2. A gradient fixes the image only up to a constant, so the metric is the
PSNR of reconstruction and image after removing each one's mean (data range 2); the final
gradient-domain error is recorded as ``grad_mse`` or ``lapl_mse``. Colour images are averaged to gray.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.ndimage
import torch
from torch import Tensor

from bench.core.metrics import psnr_db
from bench.models import Ensemble
from bench.core.registry import PositiveInt
from bench.signals.library import SignalLibrary
from bench.tasks import Task, register_task
from bench.tasks.image import DATA_RANGE, image_info, load_image, pixel_grid

CHUNK = 16384  # points per evaluation pass (derivatives need autograd, so memory grows with it)


@dataclass(frozen=True)
class PoissonTask(Task):
    """target: the derivative to match, [N, 2] (order 1: d/d row, d/d col) or [N, 1] (order 2: Laplacian);
    reference: the gray image [N, 1] in [-1, 1], scored with means removed (``centred``)."""

    order: int = 1

    @property
    def derivative(self) -> bool:
        return True

    def fits(self, model: Ensemble, coords: Tensor, precision: str, training: bool) -> tuple[Tensor, Tensor]:
        """Output [K, B, 1] and its gradient [K, B, 2] (order 1) or Laplacian [K, B, 1] (order 2) at coords [B, 2]."""
        with torch.enable_grad():  # evaluation runs under no_grad, and derivatives need autograd
            x = coords.expand(model.size, -1, -1).clone().requires_grad_(True)  # one leaf per member
            out = model(x, precision)
            grad = torch.autograd.grad(out.sum(), x, create_graph=training or self.order == 2)[0]
            if self.order == 1:
                return out, grad
            lapl = sum(torch.autograd.grad(grad[..., j].sum(), x, create_graph=training, retain_graph=True)[0][..., j]
                       for j in range(2))
        return out, lapl[..., None]


def _poisson(name: str, library: SignalLibrary, ref: str, side: int | None, order: int) -> PoissonTask:
    gray = load_image(library, ref, side).mean(axis=2)
    height, width = gray.shape
    scale = [(height - 1) / 2, (width - 1) / 2]  # pixels per coordinate unit along rows, cols
    if order == 1:
        target = np.stack([scipy.ndimage.sobel(gray, axis=a) / 8 * scale[a] for a in (0, 1)], axis=-1)
    else:
        target = sum(scipy.ndimage.correlate1d(gray, [1.0, -2.0, 1.0], axis=a) * scale[a] ** 2 for a in (0, 1))[..., None]
    info, meta = image_info(gray[..., None], ref)
    return PoissonTask(name, ref, pixel_grid(height, width), torch.from_numpy(target.reshape(height * width, -1)).float(),
                       torch.from_numpy(gray.reshape(-1, 1)).float(), info, "psnr_db",
                       lambda mse: psnr_db(mse, DATA_RANGE), meta, centred=True,
                       loss_column="grad_mse" if order == 1 else "lapl_mse", eval_chunk=CHUNK, order=order,
                       grid=(height, width))


@register_task(name="poisson-grad", domain="image")
def poisson_grad(library: SignalLibrary, ref: str, side: PositiveInt | None = None) -> Task:
    """Reconstruct an image from its Sobel gradient; PSNR with means removed, and grad_mse."""
    return _poisson("poisson-grad", library, ref, side, order=1)


@register_task(name="poisson-lapl", domain="image")
def poisson_lapl(library: SignalLibrary, ref: str, side: PositiveInt | None = None) -> Task:
    """Reconstruct an image from its Laplacian; PSNR with means removed, and lapl_mse."""
    return _poisson("poisson-lapl", library, ref, side, order=2)
