"""Image fitting: (row, col) on a [-1, 1]^2 grid -> pixel values in [-1, 1]; metric PSNR in dB (data range 2)."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from bench.errors import BenchError, UsageError
from bench.metrics import psnr_db, spectral_centroid
from bench.models import SignalInfo
from bench.signals import SignalLibrary, is_synthetic, synthetic
from bench.tasks import Task, register_task

DATA_RANGE = 2.0  # targets live in [-1, 1]: PSNR = 20 log10(2 / rmse), SIREN's convention
SYNTHETIC_SIDE = 256  # pixels per side of a synthetic image when --side is not given
GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")  # Pillow modes read as one channel; others become RGB


def read_pixels(path, side: int | None) -> np.ndarray:
    """Pixels [H, W, C] in [0, 1] (C = 1 grayscale or 3 RGB), resized to side x side when given."""
    try:
        with Image.open(path) as img:
            img = img.convert("L" if img.mode in GRAY_MODES else "RGB")
            if side is not None:
                img = img.resize((side, side), Image.Resampling.LANCZOS)
            pixels = np.asarray(img, dtype=np.float64) / 255.0
    except (UnidentifiedImageError, OSError) as exc:
        raise BenchError(f"cannot read image file {path}: {exc}; give a PNG/JPEG/TIFF file Pillow can open") from None
    return pixels[..., None] if pixels.ndim == 2 else pixels


def load_image(library: SignalLibrary, ref: str, side: int | None) -> np.ndarray:
    """The image ``ref`` as values [H, W, C] in [-1, 1], resized to side x side when given."""
    if side is not None and side < 2:
        raise UsageError(f"--side must be an integer >= 2, got {side}")
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
    info = SignalInfo("image", d_in=2, d_out=channels, centroid=spectral_centroid(values))
    return info, {"height_px": height, "width_px": width, "channels": channels, "psnr_data_range": DATA_RANGE,
                  "centroid": info.centroid}


@register_task(domain="image", help={"side": "resize to SIDE x SIDE pixels (default: native size)"})
def image(library: SignalLibrary, ref: str, side: int | None = None) -> Task:
    """Fit an image (grayscale or RGB), optionally resized to side x side pixels."""
    values = load_image(library, ref, side)
    height, width, channels = values.shape
    info, meta = image_info(values)
    return Task("image", ref, pixel_grid(height, width), torch.from_numpy(values.reshape(-1, channels)).float(),
                info, "psnr_db", lambda mse: psnr_db(mse, DATA_RANGE), meta)
