"""Image files read as their authors meant (bench.signals.image_files): every bit depth, colour type, sample type
and orientation at its true scale, and files no reader gets exactly refused in one line."""

import struct
import zlib

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image

from bench.core.errors import BenchError
from bench.tasks import load_task


@pytest.fixture(scope="module")
def camera_versions(library, tmp_path_factory):
    """cameraman at 96 x 96 as 8-bit PNG, 16-bit PNG and TIFF (values x 257), and float32 TIFF in [0, 1]."""
    folder = tmp_path_factory.mktemp("camera")
    eight = np.asarray(Image.open(library.path("camera", "image")).resize((96, 96)))
    paths = {"8-bit png": folder / "c8.png", "16-bit png": folder / "c16.png", "16-bit tiff": folder / "c16.tif",
             "float tiff": folder / "cf.tif"}
    Image.fromarray(eight).save(paths["8-bit png"])
    Image.fromarray(eight.astype(np.uint16) * 257).save(paths["16-bit png"])
    Image.fromarray(eight.astype(np.uint16) * 257).save(paths["16-bit tiff"])
    Image.fromarray((eight / 255.0).astype(np.float32)).save(paths["float tiff"])
    return paths


@pytest.mark.parametrize("version", ["16-bit png", "16-bit tiff", "float tiff"])
@pytest.mark.parametrize("side", [None, 48])
def test_wider_bit_depths_give_the_8_bit_target(library, camera_versions, version, side):
    options = {} if side is None else {"side": side}
    eight = load_task(f"image:{camera_versions['8-bit png']}", library, options)
    other = load_task(f"image:{camera_versions[version]}", library, options)
    assert other.target.shape == eight.target.shape
    torch.testing.assert_close(other.target, eight.target, atol=1e-6, rtol=0)
    assert eight.target.min() < -0.9 and eight.target.max() > 0.5  # neither clipped nor squashed


def test_non_finite_float_image_is_one_clear_error(library, tmp_path):
    values = np.full((16, 16), 0.5, dtype=np.float32)
    values[3, 4] = np.nan
    Image.fromarray(values).save(tmp_path / "nan.tif")
    with pytest.raises(BenchError, match="nan.tif holds NaN or infinite pixels"):
        load_task(f"image:{tmp_path / 'nan.tif'}", library, {})


PNG_COLOUR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> PNG colour type: gray, gray + alpha, RGB, RGBA


def _png(path, values):
    """A PNG written by hand from ``values`` [H, W, channels] (uint8 or uint16), independently of any reader."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    height, width, channels = values.shape
    bits = values.dtype.itemsize * 8
    stored = values.astype(">u2" if bits == 16 else "u1").reshape(height, -1)
    rows = b"".join(b"\x00" + row.tobytes() for row in stored)
    header = struct.pack(">IIBBBBB", width, height, bits, PNG_COLOUR_TYPES[channels], 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
                     + chunk(b"IEND", b""))


def _pixels(library, path):
    """What the image task fits for ``path``, back in [0, 1]: [H, W, C] float64."""
    task = load_task(f"image:{path}", library, {})
    return ((task.target.double() + 1) / 2).reshape(*task.grid, -1).numpy()


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_pngs_of_every_colour_type_and_depth_are_read_at_their_true_scale(library, tmp_path, dtype, channels):
    """Random values in every bit (a dark 16-bit image's high bytes are all 0); alpha is dropped."""
    top = np.iinfo(dtype).max
    values = np.random.default_rng(channels).integers(0, top + 1, (5, 7, channels)).astype(dtype)
    values[..., 0] //= 200  # dark: only the low byte set in 16 bits
    _png(tmp_path / "x.png", values)
    colours = values[..., :3] if channels >= 3 else values[..., :1]
    np.testing.assert_allclose(_pixels(library, tmp_path / "x.png"), colours / top, rtol=0, atol=1e-7)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32, np.int8, np.int16, np.int32, np.float32])
@pytest.mark.parametrize("channels", [1, 3])
def test_tiffs_of_every_sample_type_are_read_at_their_true_scale(library, tmp_path, dtype, channels):
    """Checked against the written array: a uint32 or int8 TIFF no longer wraps, 16-bit RGB keeps its low byte."""
    rng = np.random.default_rng(channels)
    if np.issubdtype(dtype, np.integer):
        kind = np.iinfo(dtype)
        values = rng.integers(kind.min, kind.max, (5, 7, channels), endpoint=True).astype(dtype)
        expected = (values.astype(np.float64) - kind.min) / (float(kind.max) - kind.min)
    else:
        values = expected = rng.random((5, 7, channels)).astype(dtype)
    tifffile.imwrite(tmp_path / "x.tif", values[..., 0] if channels == 1 else values,
                     photometric="minisblack" if channels == 1 else "rgb")
    np.testing.assert_allclose(_pixels(library, tmp_path / "x.tif"), expected, rtol=0, atol=1e-7)


def test_palette_and_compressed_8_bit_images_read_like_their_rgb(library, tmp_path):
    rgb = Image.open(library.path("camera", "image")).convert("RGB").resize((24, 24)).quantize(16).convert("RGB")
    expected = np.asarray(rgb, dtype=np.float64) / 255
    for name, image, options in (("p.png", rgb.quantize(16), {}), ("p.tif", rgb.quantize(16), {}),
                                 ("lzw.tif", rgb, {"compression": "tiff_lzw"})):
        image.save(tmp_path / name, **options)
        np.testing.assert_allclose(_pixels(library, tmp_path / name), expected, atol=1e-7, err_msg=name)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_an_orientation_tag_is_applied_as_viewers_show_the_image(library, tmp_path, orientation):
    """Pillow's exif_transpose is the independent reference for JPEG; a TIFF's own tag is honoured the same way."""
    from PIL import ImageOps

    stored = Image.fromarray(np.random.default_rng(4).integers(0, 256, (6, 10), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored.save(tmp_path / "x.jpg", exif=exif, quality=100)
    shown = np.asarray(ImageOps.exif_transpose(Image.open(tmp_path / "x.jpg")), dtype=np.float64)[..., None] / 255
    np.testing.assert_allclose(_pixels(library, tmp_path / "x.jpg"), shown, atol=1e-7)
    tifffile.imwrite(tmp_path / "x.tif", np.asarray(stored), extratags=[(274, "H", 1, orientation, True)])
    raw = np.asarray(stored, dtype=np.float64)[..., None] / 255
    expected = np.asarray(ImageOps.exif_transpose(_with_orientation(stored, orientation)), dtype=np.float64)
    np.testing.assert_allclose(_pixels(library, tmp_path / "x.tif"), expected[..., None] / 255, atol=1e-7)
    assert (raw.shape[:2] == _pixels(library, tmp_path / "x.tif").shape[:2]) == (orientation <= 4)


def _with_orientation(image, orientation):
    tagged = image.copy()
    tagged.getexif()[0x0112] = orientation
    return tagged


def test_16_bit_gray_with_alpha_stays_one_channel(library, tmp_path):
    eight = np.asarray(Image.open(library.path("camera", "image")).resize((24, 24)))
    Image.fromarray(eight).save(tmp_path / "c8.png")
    _png(tmp_path / "la16.png", np.stack([eight.astype(np.uint16) * 257, np.full_like(eight, 7, np.uint16)], -1))
    wide = load_task(f"image:{tmp_path / 'la16.png'}", library, {})
    assert wide.info.d_out == 1
    torch.testing.assert_close(wide.target, load_task(f"image:{tmp_path / 'c8.png'}", library, {}).target)


def test_images_no_reader_gets_exactly_are_refused_in_one_line(library, tmp_path):
    tifffile.imwrite(tmp_path / "stack.tif", np.zeros((3, 5, 6), np.uint8), photometric="minisblack")
    with pytest.raises(BenchError, match="stack.tif holds a .* array, not one image"):
        load_task(f"image:{tmp_path / 'stack.tif'}", library, {})
    (tmp_path / "junk.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    with pytest.raises(BenchError, match="cannot read image file .*junk.png"):
        load_task(f"image:{tmp_path / 'junk.png'}", library, {})


def test_integer_tiffs_are_scaled_by_their_type_and_odd_floats_refused(library, tmp_path):
    values = np.array([[0, 65535], [32768, 1000]], dtype=np.int64)
    Image.fromarray((values - 32768).astype(np.int32)).save(tmp_path / "signed32.tif")
    pixels = (load_task(f"image:{tmp_path / 'signed32.tif'}", library, {}).target[:, 0].double() + 1) / 2
    expected = (values.reshape(-1) - 32768 + 2**31) / (2**32 - 1)
    np.testing.assert_allclose(pixels.numpy(), expected, atol=1e-7)
    Image.fromarray(np.full((4, 4), 200.0, dtype=np.float32)).save(tmp_path / "f255.tif")
    with pytest.raises(BenchError, match=r"f255.tif .*\[0, 1\]"):
        load_task(f"image:{tmp_path / 'f255.tif'}", library, {})


def test_an_image_over_pillows_bomb_limit_is_one_line_even_with_side(library, tmp_path, monkeypatch):
    Image.fromarray(np.zeros((40, 40), np.uint8)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(BenchError, match=r"cannot read image file .*big.png: Image size \(1600 pixels\) exceeds limit"
                                         r".*downsize the file itself"):
        load_task(f"image:{tmp_path / 'big.png'}", library, {"side": 8})


def test_low_depth_tiffs_16_bit_ppm_and_oversized_files_before_decoding(library, tmp_path, monkeypatch):
    bits = np.random.default_rng(8).integers(0, 2, (6, 9)).astype(bool)
    Image.fromarray(bits).save(tmp_path / "one.tif")  # a 1-bit TIFF: tifffile without imagecodecs cannot unpack it
    np.testing.assert_array_equal(_pixels(library, tmp_path / "one.tif")[..., 0], bits.astype(np.float64))
    header = b"P6 2 1 65535\n"
    (tmp_path / "wide.ppm").write_bytes(header + np.array([1, 2, 3, 4, 5, 6], ">u2").tobytes())
    with pytest.raises(BenchError, match="wide.ppm exactly \\(a PPM/PGM of more than 8 bits"):
        load_task(f"image:{tmp_path / 'wide.ppm'}", library, {})
    _png(tmp_path / "big16.png", np.zeros((30, 30, 1), np.uint16))
    tifffile.imwrite(tmp_path / "big.tif", np.zeros((30, 30), np.uint16))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    for name in ("big16.png", "big.tif"):
        with pytest.raises(BenchError, match=f"{name}: 900 pixels exceeds the limit of 200"):
            load_task(f"image:{tmp_path / name}", library, {})
