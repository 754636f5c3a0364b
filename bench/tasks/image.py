"""Image fitting: (row, col) on a [-1, 1]^2 grid -> pixel values in [-1, 1]; metric PSNR in dB (data range 2)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from bench.errors import BenchError, UsageError
from bench.metrics import psnr_db, spectral_centroid, ssim
from bench.models import SignalInfo
from bench.registry import PositiveInt
from bench.signals import SignalLibrary, is_synthetic, synthetic
from bench.tasks import Task, register_task

DATA_RANGE = 2.0  # targets live in [-1, 1]: PSNR = 20 log10(2 / rmse), SIREN's convention
SYNTHETIC_SIDE = 256  # pixels per side of a synthetic image when --side is not given
GRAY_MODES = ("1", "L", "LA", "La")  # 8-bit Pillow modes read as one channel; other 8-bit modes become RGB
WIDE_MODES = {"I;16": 65535, "I;16L": 65535, "I;16B": 65535, "I;16N": 65535}  # 16-bit integer gray: full scale


TIFF_BITS, TIFF_SAMPLE_FORMAT = 258, 339  # TIFF tags: bits per sample; 1 unsigned, 2 signed integer, 3 float


def _unit_pixels(img: Image.Image, path) -> np.ndarray:
    """An opened image as float64 values [H, W, C] in [0, 1]: integer depths scaled by their range (so
    8-bit, 16-bit and float versions of one picture agree), float images taken as they are (they must lie
    in [0, 1]). Pillow's own conversion to 8 bits clips wider depths, hence the explicit modes."""
    rawmode = img.tile[0].args if img.tile and isinstance(img.tile[0].args, str) else ""
    if img.mode in WIDE_MODES:
        pixels = np.asarray(img).astype(np.float64) / WIDE_MODES[img.mode]
    elif img.mode == "I":
        pixels = _scaled_integers(img, path)
    elif img.mode == "F":
        pixels = np.asarray(img).astype(np.float64)
        if not np.isfinite(pixels).all():
            raise BenchError(f"image file {path} holds NaN or infinite pixels; give an image of finite values")
        if pixels.min() < 0 or pixels.max() > 1:
            raise BenchError(f"float image file {path} has values in [{pixels.min():g}, {pixels.max():g}]; float "
                             f"pixels must lie in [0, 1] (divide by the full scale, or save integer pixels)")
    elif img.mode == "RGBA" and rawmode.startswith("LA"):  # Pillow opens 16-bit gray + alpha PNGs as RGBA
        pixels = np.asarray(img, dtype=np.float64)[..., 0] / 255.0
    else:
        pixels = np.asarray(img.convert("L" if img.mode in GRAY_MODES else "RGB"), dtype=np.float64) / 255.0
    return pixels[..., None] if pixels.ndim == 2 else pixels


def _scaled_integers(img: Image.Image, path) -> np.ndarray:
    """Pillow's 32-bit integer mode "I" holds 16-bit PNGs (older Pillow) and TIFFs of 16 or 32 signed or
    unsigned bits: the file says which, and the values are scaled from that type's range to [0, 1]."""
    values = np.asarray(img).astype(np.float64)
    if img.format == "PNG":  # a PNG holds at most 16 unsigned bits
        return values / 65535
    tags = getattr(img, "tag_v2", {})
    bits, kind = (value[0] if isinstance(value, tuple) else value
                  for value in (tags.get(TIFF_BITS), tags.get(TIFF_SAMPLE_FORMAT, 1)))
    if bits not in (8, 16, 32) or kind not in (1, 2):
        raise BenchError(f"cannot tell the integer type of the pixels of {path}; save it as 8- or 16-bit PNG/TIFF "
                         f"or float TIFF in [0, 1]")
    low = -(2 ** (bits - 1)) if kind == 2 else 0
    return (values - low) / (2**bits - 1)


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
