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
GRAY_MODES = ("1", "L", "LA", "La")  # 8-bit Pillow modes read as one channel; other 8-bit modes become RGB
WIDE_MODES = {"I;16": 65535, "I;16L": 65535, "I;16B": 65535, "I;16N": 65535}  # 16-bit integer gray: full scale


def _unit_pixels(img: Image.Image, path) -> np.ndarray:
    """An opened image as float64 values [H, W, C]: integer depths divided by their full scale (so 8-bit,
    16-bit and float versions of one picture agree), float images taken as they are. Pillow's own
    conversion to 8 bits clips wider depths, hence the explicit modes."""
    if img.mode in WIDE_MODES:
        pixels = np.asarray(img).astype(np.float64) / WIDE_MODES[img.mode]
    elif img.mode == "I":  # 32-bit integers; a PNG cannot hold more than 16 bits (older Pillow opens 16-bit PNGs so)
        values = np.asarray(img).astype(np.float64)
        full_scale = 65535 if img.format == "PNG" else 2**31 - 1
        pixels = values / full_scale
    elif img.mode == "F":
        pixels = np.asarray(img).astype(np.float64)
        if not np.isfinite(pixels).all():
            raise BenchError(f"image file {path} holds NaN or infinite pixels; give an image of finite values")
    else:
        pixels = np.asarray(img.convert("L" if img.mode in GRAY_MODES else "RGB"), dtype=np.float64) / 255.0
    return pixels[..., None] if pixels.ndim == 2 else pixels


def _resized(pixels: np.ndarray, side: int) -> np.ndarray:
    """Values [H, W, C] resized to [side, side, C] with Lanczos, per channel in float32 (no rounding to 8 bits),
    kept within the image's own range (Lanczos overshoots at edges)."""
    channels = [np.asarray(Image.fromarray(pixels[..., c].astype(np.float32))
                           .resize((side, side), Image.Resampling.LANCZOS), dtype=np.float64)
                for c in range(pixels.shape[-1])]
    return np.clip(np.stack(channels, axis=-1), pixels.min(), pixels.max())


def read_pixels(path, side: int | None) -> np.ndarray:
    """Pixels [H, W, C] (C = 1 grayscale or 3 RGB; integer depths scaled to [0, 1], float images as stored),
    resized to side x side when given."""
    try:
        with Image.open(path) as img:
            pixels = _unit_pixels(img, path)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise BenchError(f"cannot read image file {path}: {exc}; give a PNG/JPEG/TIFF file Pillow can open") from None
    return pixels if side is None else _resized(pixels, side)


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
    info = SignalInfo("image", d_in=2, d_out=channels, centroid=spectral_centroid(values.reshape(-1, channels)))
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
