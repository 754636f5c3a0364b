"""Image files read at their true scale: every bit depth and colour type becomes values [H, W, C] in [0, 1]
(C = 1 gray or 3 colour; alpha dropped), laid out as a viewer shows the image (its orientation tag applied).

Pillow reads 8-bit images exactly, but opens 16-bit colour PNGs in 8-bit modes (keeping only the high
byte) and wraps or truncates TIFF sample types it has no mode for (uint32, int8, 16-bit RGB). Those are
decoded by pypng (PNGs of 16 bits) and tifffile (every TIFF), which return the stored integers; what none
of them reads exactly is refused with one line."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import png
import tifffile
from PIL import Image, UnidentifiedImageError

from bench.core.errors import BenchError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_BIT_DEPTH_AT = 24  # signature (8), IHDR length and type (8), width and height (8), then the bit depth
TIFF_SIGNATURES = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # little/big endian, classic/BigTIFF
ORIENTATION_TAG = 274  # EXIF and TIFF: how the stored rows map onto the displayed image (1 = as stored)
EXACT_PILLOW_MODES = ("1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr")
GRAY_PILLOW_MODES = ("1", "L", "LA", "La")
MINISWHITE, MINISBLACK, RGB, PALETTE = 0, 1, 2, 3  # TIFF photometric interpretations read here


def read_unit_pixels(path: Path) -> np.ndarray:
    """The image file at ``path`` as float64 values [H, W, C] in [0, 1]: integers divided by their type's
    range (so 8-bit, 16-bit and float versions of one picture agree), floats as stored (they must lie in
    [0, 1]), oriented as its EXIF/TIFF orientation tag says."""
    with open(path, "rb") as file:
        head = file.read(PNG_BIT_DEPTH_AT + 1)
    try:
        if head[:4] in TIFF_SIGNATURES:
            pixels, orientation = _tiff(path)
        elif head[:8] == PNG_SIGNATURE and len(head) > PNG_BIT_DEPTH_AT and head[PNG_BIT_DEPTH_AT] == 16:
            width, height = struct.unpack(">II", head[16:24])
            _check_size(path, width * height)
            pixels, orientation = _png_16(path), _pillow_orientation(path)
        else:
            pixels, orientation = _pillow(path)
    except Image.DecompressionBombError as exc:
        raise BenchError(f"cannot read image file {path}: {str(exc).rstrip('.')}; downsize the file itself "
                         f"(--side resizes only after reading)") from None
    except (UnidentifiedImageError, OSError, ValueError, NotImplementedError, png.Error, tifffile.TiffFileError) as exc:
        raise BenchError(f"cannot read image file {path}: {exc}; give a PNG/JPEG/TIFF file") from None
    return _as_displayed(pixels, orientation)


def _check_size(path: Path, pixels: int) -> None:
    """Refuse, before decoding, an image larger than Pillow reads (twice ``Image.MAX_IMAGE_PIXELS``, its
    decompression-bomb error), whichever library would decode it."""
    limit = 2 * Image.MAX_IMAGE_PIXELS
    if pixels > limit:
        raise BenchError(f"cannot read image file {path}: {pixels:,} pixels exceeds the limit of {limit:,} "
                         f"(Pillow's decompression-bomb guard); downsize the file itself (--side resizes only "
                         f"after reading)")


def _pillow(path: Path) -> tuple[np.ndarray, int]:
    """8-bit formats (JPEG, 8-bit PNG, BMP, GIF, WebP, ...) through Pillow, which reads them exactly."""
    with Image.open(path) as img:
        orientation = img.getexif().get(ORIENTATION_TAG, 1)
        args = img.tile[0].args if img.tile else ""
        rawmode = args if isinstance(args, str) else ""
        if img.format == "PPM" and isinstance(args, tuple) and any(isinstance(a, int) and a > 255 for a in args):
            raise BenchError(f"cannot read the pixels of image file {path} exactly (a PPM/PGM of more than 8 bits, "
                             f"which Pillow cuts to 8); save it as a 16-bit PNG or TIFF")
        if img.mode == "F":
            return _unit_scale(np.asarray(img), path), orientation
        if img.mode.startswith("I;16"):  # 16-bit gray of formats other than PNG/TIFF (e.g. PGM)
            return np.asarray(img).astype(np.float64)[..., None] / 65535, orientation
        if img.mode not in EXACT_PILLOW_MODES or ";16" in rawmode:
            raise BenchError(f"cannot read the pixels of image file {path} exactly ({img.format} in Pillow mode "
                             f"{img.mode}, stored as {rawmode or 'unknown'}); save it as PNG or TIFF")
        gray = img.mode in GRAY_PILLOW_MODES
        pixels = np.asarray(img.convert("L" if gray else "RGB"), dtype=np.float64) / 255.0
    return (pixels[..., None] if gray else pixels), orientation


def _pillow_orientation(path: Path) -> int:
    with Image.open(path) as img:
        return img.getexif().get(ORIENTATION_TAG, 1)


def _png_16(path: Path) -> np.ndarray:
    """A 16-bit PNG (gray, gray + alpha, RGB, RGBA) through pypng, whose rows hold the stored integers."""
    width, height, rows, info = png.Reader(filename=str(path)).asDirect()
    planes = info["planes"]
    values = np.vstack([np.asarray(row, dtype=np.float64) for row in rows]).reshape(height, width, planes)
    colours = 1 if info["greyscale"] else 3
    return values[..., :colours] / (2 ** info["bitdepth"] - 1)


def _tiff(path: Path) -> tuple[np.ndarray, int]:
    """A TIFF's image through tifffile, by its photometric interpretation; a compression tifffile
    cannot decode without imagecodecs falls back to Pillow where Pillow is exact (8-bit samples)."""
    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]  # the main image (a reduced-size preview is a series of its own)
        page = series.keyframe
        tag = page.tags.get(ORIENTATION_TAG)
        orientation = int(tag.value) if tag is not None else 1
        _check_size(path, int(np.prod(page.shape[:2] if page.axes.startswith("YX") else page.shape[-2:])))
        bits, unsigned = page.bitspersample, page.sampleformat == 1
        if unsigned and bits < 8:  # 1, 2, 4 bits: Pillow scales them to 8 bits exactly (3 x 85 = 255)
            return _pillow(path)[0], orientation
        try:
            values = series.asarray()
        except (ValueError, NotImplementedError) as exc:  # "<COMPRESSION.LZW: 5> requires the 'imagecodecs' package"
            if bits <= 8 and unsigned:
                return _pillow(path)[0], orientation
            raise BenchError(f"cannot decode image file {path}: {exc}; save it uncompressed or with deflate, "
                             f"or pip install imagecodecs") from None
        axes, photometric = series.axes, int(page.photometric)
        colormap = page.colormap
    if axes == "SYX":
        values, axes = np.moveaxis(values, 0, -1), "YXS"
    if axes not in ("YX", "YXS"):
        raise BenchError(f"image file {path} holds a {axes} array, not one image; save one 2D image per file")
    values = values[..., None] if axes == "YX" else values
    if photometric == PALETTE and colormap is not None:
        return np.moveaxis(_unit_colormap(colormap)[:, values[..., 0]], 0, -1), orientation
    if photometric in (MINISBLACK, MINISWHITE):
        gray = _unit_scale(values[..., :1], path, bits)
        return (1 - gray if photometric == MINISWHITE else gray), orientation
    if photometric == RGB and values.shape[-1] >= 3:
        return _unit_scale(values[..., :3], path, bits), orientation
    if page.bitspersample <= 8 and page.sampleformat == 1:  # e.g. CMYK, YCbCr: Pillow converts 8 bits exactly
        return _pillow(path)[0], orientation
    raise BenchError(f"cannot read the pixels of image file {path} exactly (TIFF photometric {photometric}, "
                     f"{page.bitspersample}-bit); save it as gray or RGB PNG/TIFF")


def _unit_colormap(colormap: np.ndarray) -> np.ndarray:
    """A TIFF colour map [3, entries] (16-bit by the standard) in [0, 1]. Writers of 8-bit palettes store
    either v * 257 (full scale) or v * 256 (Pillow, libtiff's tools): all multiples of 256 are read as the
    latter, so an 8-bit palette gives the values its RGB version has."""
    if not (colormap % 256).any():
        return (colormap // 256) / 255.0
    return colormap / 65535.0


def _unit_scale(values: np.ndarray, path: Path, bits: int | None = None) -> np.ndarray:
    """Stored samples as float64 in [0, 1]: integers of ``bits`` bits (default: their type's) over that
    range, unsigned from 0 and signed from their minimum (a 12-bit TIFF comes back as uint16: 4095 is 1),
    booleans as 0/1, floats as they are (refused outside [0, 1])."""
    if values.dtype == bool:
        return values.astype(np.float64)
    if np.issubdtype(values.dtype, np.integer):
        bits = bits or values.dtype.itemsize * 8
        low = -(2 ** (bits - 1)) if np.issubdtype(values.dtype, np.signedinteger) else 0
        return (values.astype(np.float64) - low) / (2.0**bits - 1)
    pixels = values.astype(np.float64)
    if not np.isfinite(pixels).all():
        raise BenchError(f"image file {path} holds NaN or infinite pixels; give an image of finite values")
    if pixels.min() < 0 or pixels.max() > 1:
        raise BenchError(f"float image file {path} has values in [{pixels.min():g}, {pixels.max():g}]; float "
                         f"pixels must lie in [0, 1] (divide by the full scale, or save integer pixels)")
    return pixels if pixels.ndim == 3 else pixels[..., None]


def _as_displayed(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Pixels [H, W, C] as stored, turned the way the orientation tag (1-8, EXIF/TIFF) says a viewer shows
    them; any other value is taken as 1 (as stored), as viewers do."""
    turns = {1: lambda p: p, 2: np.fliplr, 3: lambda p: np.rot90(p, 2), 4: np.flipud,
             5: lambda p: p.transpose(1, 0, 2), 6: lambda p: np.rot90(p, -1),
             7: lambda p: np.rot90(p.transpose(1, 0, 2), 2), 8: lambda p: np.rot90(p, 1)}
    return np.ascontiguousarray(turns.get(orientation, turns[1])(pixels))
