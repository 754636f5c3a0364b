"""Image fitting: (row, col) on a [-1, 1]^2 grid -> pixel values in [-1, 1]; metric PSNR in dB (data range 2)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from bench.errors import UsageError
from bench.image_files import read_unit_pixels
from bench.metrics import psnr_db, spectral_centroid, ssim
from bench.models import SignalInfo
from bench.registry import PositiveInt
from bench.signals import SignalLibrary, is_synthetic, synthetic
from bench.tasks import Task, register_task

DATA_RANGE = 2.0  # targets live in [-1, 1]: PSNR = 20 log10(2 / rmse), SIREN's convention
SYNTHETIC_SIDE = 256  # pixels per side of a synthetic image when --side is not given


def _resized(pixels: np.ndarray, side: int) -> np.ndarray:
    """Values [H, W, C] resized to [side, side, C] with Lanczos, per channel in float32 (no rounding to 8 bits),
    kept within the image's own range (Lanczos overshoots at edges)."""
    channels = [np.asarray(Image.fromarray(pixels[..., c].astype(np.float32))
                           .resize((side, side), Image.Resampling.LANCZOS), dtype=np.float64)
                for c in range(pixels.shape[-1])]
    return np.clip(np.stack(channels, axis=-1), pixels.min(), pixels.max())


def read_pixels(path, side: int | None) -> np.ndarray:
    """Pixels [H, W, C] in [0, 1] (C = 1 grayscale or 3 RGB; see ``read_unit_pixels``), resized to side x
    side when given."""
    pixels = read_unit_pixels(path)
    return pixels if side is None else _resized(pixels, side)


def load_image(library: SignalLibrary, ref: str, side: int | None) -> np.ndarray:
    """The image ``ref`` as values [H, W, C] in [-1, 1], resized to side x side when given."""
    if side is not None and side < 2:
        raise UsageError(f"--side must be an integer >= 2, got {side}")
    if side is not None and side * side > Image.MAX_IMAGE_PIXELS:  # the size Pillow reads safely, for any image
        raise UsageError(f"--side {side} makes {side * side:,} pixels, over the {Image.MAX_IMAGE_PIXELS:,} an image "
                         f"may have here; give a smaller --side")
    if is_synthetic(ref):
        pixels = synthetic(ref, (side or SYNTHETIC_SIDE,) * 2)
        pixels = ((pixels - pixels.min()) / np.ptp(pixels))[..., None]
    else:
        pixels = read_pixels(library.path(ref, "image"), side)
    return pixels * 2.0 - 1.0


def pixel_grid(height: int, width: int) -> torch.Tensor:
    """(row, col) coordinates [H * W, 2] on a [-1, 1]^2 grid, rows outermost."""
    rows, cols = torch.meshgrid(torch.linspace(-1, 1, height), torch.linspace(-1, 1, width), indexing="ij")
    return torch.stack([rows, cols], -1).reshape(-1, 2)


def image_info(values: np.ndarray) -> tuple[SignalInfo, dict]:
    """SignalInfo and result columns of image values [H, W, C]."""
    height, width, channels = values.shape
    info = SignalInfo("image", d_in=2, d_out=channels, centroid=spectral_centroid(values.reshape(-1, channels)))
    return info, {"height_px": height, "width_px": width, "channels": channels, "psnr_data_range": DATA_RANGE,
                  "centroid": info.centroid}


@dataclass(frozen=True)
class ImageQuality:
    """SSIM [K] of images out [K, H * W, C] against reference [H * W, C], both in [-1, 1] (scored in [0, 1])."""

    height: int
    width: int

    def __call__(self, out: Tensor, reference: Tensor) -> dict[str, Tensor]:
        shape = (self.height, self.width, reference.shape[-1])
        return {"ssim": ssim((out.reshape(-1, *shape) + 1) / 2, (reference.reshape(shape) + 1) / 2)}


def image_task(name: str, ref: str, values: np.ndarray) -> Task:
    """Fitting values [H, W, C] in [-1, 1] on the pixel grid, scored by PSNR (data range 2)."""
    height, width, channels = values.shape
    info, meta = image_info(values)
    target = torch.from_numpy(values.reshape(-1, channels)).float()
    return Task(name, ref, pixel_grid(height, width), target, target, info, "psnr_db",
                lambda mse: psnr_db(mse, DATA_RANGE), meta, quality=ImageQuality(height, width),
                quality_metrics=("ssim",), grid=(height, width))


@register_task(domain="image", help={"side": "resize to SIDE x SIDE pixels (default: native size)"})
def image(library: SignalLibrary, ref: str, side: PositiveInt | None = None) -> Task:
    """Fit an image (grayscale or RGB), optionally resized to side x side pixels."""
    return image_task("image", ref, load_image(library, ref, side))
