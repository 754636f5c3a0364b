"""Image fitting: (row, col) on a [-1, 1]^2 grid -> pixel values in [-1, 1]; metric PSNR in dB (data range 2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from bench.core.errors import UsageError
from bench.signals.image_files import read_unit_pixels
from bench.core.metrics import psnr_db, spectral_centroid, ssim
from bench.signals.info import SignalInfo
from bench.core.registry import NonNegativeInt, PositiveInt
from bench.signals.library import SignalLibrary, is_synthetic, synthetic
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


def crop_square(values: np.ndarray, ref: str, size: int, row: int, col: int) -> np.ndarray:
    """The size x size pixels of values [H, W, C] whose top-left pixel is (row, col): [size, size, C]."""
    height, width = values.shape[:2]
    if row + size > height or col + size > width:
        raise UsageError(f"--crop {size} from row {row}, column {col} leaves image {ref!r} ({height} x {width} "
                         f"pixels as loaded); give a smaller --crop or move --crop-row/--crop-col")
    return values[row:row + size, col:col + size]


def pixel_grid(height: int, width: int) -> torch.Tensor:
    """(row, col) coordinates [H * W, 2] on a [-1, 1]^2 grid, rows outermost."""
    rows, cols = torch.meshgrid(torch.linspace(-1, 1, height), torch.linspace(-1, 1, width), indexing="ij")
    return torch.stack([rows, cols], -1).reshape(-1, 2)


def image_info(values: np.ndarray, ref: str) -> tuple[SignalInfo, dict]:
    """SignalInfo and result columns of image values [H, W, C] cut from image ``ref``."""
    height, width, channels = values.shape
    info = SignalInfo("image", d_in=2, d_out=channels, centroid=spectral_centroid(values.reshape(-1, channels)),
                      source=ref)
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
    info, meta = image_info(values, ref)
    target = torch.from_numpy(values.reshape(-1, channels)).float()
    return Task(name, ref, pixel_grid(height, width), target, target, info, "psnr_db",
                lambda mse: psnr_db(mse, DATA_RANGE), meta, quality=ImageQuality(height, width),
                quality_metrics=("ssim",), grid=(height, width))


def load_crop(library: SignalLibrary, ref: str, side: int | None, crop: int | None, crop_row: int | None,
              crop_col: int | None) -> np.ndarray:
    """The image ``ref`` as ``load_image`` gives it, then its crop x crop pixels from (crop_row, crop_col) (0
    when unset) when ``crop`` is given: [H, W, C] in [-1, 1]."""
    if crop is None and (crop_row or crop_col):
        raise UsageError("--crop-row and --crop-col place a crop: give its size with --crop")
    values = load_image(library, ref, side)
    return values if crop is None else crop_square(values, ref, crop, crop_row or 0, crop_col or 0)


def crop_at_origin(library: SignalLibrary, ref: str, options: dict[str, Any]) -> dict[str, Any]:
    """Options of an image task without a crop's row or column of 0 (the default), so that one crop asked for
    in either way is one cell."""
    return {key: value for key, value in options.items()
            if not (key in ("crop_row", "crop_col") and value == 0 and type(value) is int)}


IMAGE_HELP = {"side": "resize to SIDE x SIDE pixels (default: native size)",
              "crop": "fit the CROP x CROP pixels from --crop-row, --crop-col (after --side; default: the whole image)",
              "crop_row": "first row of the crop (default 0)",
              "crop_col": "first column of the crop (default 0)"}


@register_task(domain="image", help=IMAGE_HELP, effective=crop_at_origin)
def image(library: SignalLibrary, ref: str, side: PositiveInt | None = None, crop: PositiveInt | None = None,
          crop_row: NonNegativeInt | None = None, crop_col: NonNegativeInt | None = None) -> Task:
    """Fit an image (grayscale or RGB), optionally resized to side x side pixels, or a square crop of it."""
    return image_task("image", ref, load_crop(library, ref, side, crop, crop_row, crop_col))
