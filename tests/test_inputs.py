"""Inputs read as their authors meant: image bit depths, truncated audio, the official normalization
order, and user files keyed by their content."""

import struct
import warnings
import zlib

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import tifffile
import torch
from PIL import Image

from bench.cli import main
from bench.core.errors import BenchError
from bench.tasks import load_task

TINY = ["--width", "8", "--layers", "1", "--steps", "3", "--seeds", "0", "--device", "cpu", "--no-progress"]


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


def test_truncated_wav_is_refused_naming_the_file(library, tmp_path, capsys):
    samples = np.random.default_rng(0).uniform(-0.5, 0.5, 4096)
    sf.write(tmp_path / "whole.wav", samples, 16000, subtype="PCM_16")
    (tmp_path / "cut.wav").write_bytes((tmp_path / "whole.wav").read_bytes()[:60])
    assert load_task(f"audio:{tmp_path / 'whole.wav'}", library, {}).size == 4096
    with pytest.raises(BenchError, match="cut.wav is truncated: its header declares 8,192 bytes"):
        load_task(f"audio:{tmp_path / 'cut.wav'}", library, {})
    code = main(["run", "--model", "siren", "--task", f"audio:{tmp_path / 'cut.wav'}", "--out", str(tmp_path / "r"),
                 *TINY])
    assert code == 1 and "cut.wav is truncated" in capsys.readouterr().err


def test_audio_is_normalized_by_the_whole_clip_before_truncation(library):
    """The official SIREN² order: the slice keeps its level relative to the clip."""
    raw, _ = sf.read(library.path("arch", "audio"), dtype="float64", always_2d=True)
    mono = raw.mean(axis=1)
    task = load_task("audio:arch", library, {"max_samples": 3000})
    np.testing.assert_allclose(task.target[:, 0].numpy(), mono[:3000] / np.abs(mono).max(), rtol=1e-6, atol=1e-7)


def test_silent_start_of_a_clip_is_one_clear_error(library, tmp_path):
    samples = np.concatenate([np.zeros(1000), np.random.default_rng(1).uniform(-0.5, 0.5, 1000)])
    sf.write(tmp_path / "late.wav", samples, 16000, subtype="FLOAT")
    with pytest.raises(BenchError, match="first 500 samples .* are silent; raise --max-samples"):
        load_task(f"audio:{tmp_path / 'late.wav'}", library, {"max_samples": 500})
    with pytest.raises(BenchError, match=r"the 200 samples from sample 300 of audio signal .* are silent"):
        load_task(f"audio:{tmp_path / 'late.wav'}", library, {"max_samples": 200, "offset": 300})


def test_a_replaced_user_file_is_trained_anew(tmp_path, capsys):
    """Cells key a user's file by its content, not its path."""
    clip, out = tmp_path / "my.wav", tmp_path / "runs"
    rng = np.random.default_rng(2)
    sf.write(clip, rng.uniform(-0.5, 0.5, 512), 8000, subtype="PCM_16")
    argv = ["run", "--model", "siren", "--task", f"audio:{clip}", "--out", str(out), *TINY]
    assert main(argv) == 0
    assert main(argv) == 0 and "nothing to run" in capsys.readouterr().err
    sf.write(clip, rng.uniform(-0.5, 0.5, 512), 8000, subtype="PCM_16")  # another clip under the same name
    assert main(argv) == 0
    rows = pd.read_parquet(out)
    assert len(rows) == 2 and rows["signal_fingerprint"].nunique() == 2 and rows["cell_key"].nunique() == 2


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
    with pytest.raises(BenchError, match=r"f255.tif has values in \[200, 200\]; float pixels must lie in \[0, 1\]"):
        load_task(f"image:{tmp_path / 'f255.tif'}", library, {})


def test_truncated_aiff_is_refused(library, tmp_path):
    sf.write(tmp_path / "whole.aiff", np.random.default_rng(3).uniform(-0.5, 0.5, 4000), 16000, subtype="PCM_16")
    (tmp_path / "cut.aiff").write_bytes((tmp_path / "whole.aiff").read_bytes()[:4000])
    assert load_task(f"audio:{tmp_path / 'whole.aiff'}", library, {}).size == 4000
    with pytest.raises(BenchError, match="cut.aiff is truncated"):
        load_task(f"audio:{tmp_path / 'cut.aiff'}", library, {})


EXACT_PLUGIN = '''
import torch
from bench.models import Member, register_model
from bench.models.siren import siren


@register_model()
def exact_black(m: Member) -> dict:
    """SIREN, then an output layer that is -1 everywhere: an exact fit of a black image."""
    used = siren(m)
    m.weights[-1] = torch.zeros_like(m.weights[-1])
    m.biases[-1] = torch.full_like(m.biases[-1], -1.0)
    return used
'''


def test_a_perfect_fit_is_a_result_not_a_divergence(tmp_path, capsys):
    plugin, image = tmp_path / "exact.py", tmp_path / "black.png"
    plugin.write_text(EXACT_PLUGIN)
    Image.fromarray(np.zeros((16, 16), dtype=np.uint8)).save(image)
    out = tmp_path / "out"
    code = main(["--plugin", str(plugin), "run", "--model", "exact_black", "--task", f"image:{image}", "--steps", "5",
                 "--width", "8", "--layers", "1", "--seeds", "0", "--device", "cpu", "--no-progress", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    row = pd.read_parquet(out).iloc[0]
    assert row["status"] == "ok" and row["psnr_db"] == np.inf and row["best_psnr_db"] == np.inf  # zero error
    assert pd.isna(row["diverged_step"]) and row["ssim"] == pytest.approx(1.0)


def test_two_spellings_of_one_file_are_one_signal_and_one_cell(tmp_path, capsys, library, monkeypatch):
    clip = tmp_path / "in" / "x.wav"
    clip.parent.mkdir()
    sf.write(clip, sf.read(library.path("arch", "audio"), frames=256)[0], 8000)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    run = ["run", "--model", "siren", "--max-samples", "256", "--width", "8", "--layers", "1", "--steps", "2",
           "--seeds", "0", "--device", "cpu", "--no-progress", "--out", str(out)]
    assert main(run + ["--task", "audio:in/x.wav"]) == 0
    for spelling in ("in/./x.wav", "./in/x.wav", str(clip)):
        assert main(run + ["--task", f"audio:{spelling}"]) == 0
        assert "nothing to run" in capsys.readouterr().err
    rows = pd.read_parquet(out)
    assert len(rows) == 1 and rows["signal"].iloc[0] == str(clip.resolve())


def test_one_line_for_a_repeated_key_an_auto_label_and_out_of_domain_flags(tmp_path, capsys, library):
    from bench.models import parse_model
    from bench.experiment.spec import parse_spec

    assert main(["run", "--model", "siren:w0=30,w0=40", "--task", "audio:arch"]) == 2
    assert "w0 is given twice" in capsys.readouterr().err
    assert parse_model("siren2:S0=auto").label == "siren2" == parse_model("siren2").label  # the default, not "None"
    for argv, flag in ((["sweep", "quick", "--gpus-per-job", "nan"], "--gpus-per-job"),
                       (["run", "--lr-gamma", "inf"], "--lr-gamma"),
                       (["run", "--task", "denoise-image:camera", "--noise-std", "inf"], "--noise-std")):
        assert exit_code(argv + ["--out", str(tmp_path / "o")]) == 2
        assert flag in capsys.readouterr().err
    spec = "seeds = 0\n[models]\nsiren = {}\n[[tasks]]\ntask = 'audio'\nsignals = ['arch']\nmax_samples = 0\n"
    with pytest.raises(BenchError, match=r"tasks\[0\]\.max_samples: 0 must be >= 1"):
        parse_spec(spec, "s.toml", library)


def exit_code(argv) -> int:
    """bench's exit code for ``argv``: what main returns, or the code of argparse's SystemExit."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def test_samples_beyond_a_clip_are_the_whole_clip_and_one_cell(tmp_path, capsys, library):
    """--max-samples past a clip's end fits the samples there are: keyed (and shown) as those samples."""
    clip, out = tmp_path / "my.wav", tmp_path / "runs"
    sf.write(clip, np.random.default_rng(5).uniform(-0.5, 0.5, 700), 8000, subtype="PCM_16")
    argv = ["run", "--model", "siren", "--task", f"audio:{clip}", "--out", str(out), *TINY]
    assert main(argv) == 0
    for extra in (["--max-samples", "700"], ["--max-samples", "5000"]):
        assert main([*argv, *extra]) == 0 and "nothing to run" in capsys.readouterr().err, extra
    assert main([*argv, "--max-samples", "699"]) == 0
    rows = pd.read_parquet(out)
    assert sorted(rows["option.max_samples"]) == [699, 700] and sorted(rows["n_samples"]) == [699, 700]
    spec = tmp_path / "s.toml"
    spec.write_text(f'seeds = [0]\nwidths = 8\nlayers = 1\n[train]\nsteps = 2\n[models]\nsiren = {{}}\n'
                    f'[[tasks]]\ntask = "audio"\nsignals = ["{clip}", "arch"]\nmax_samples = [700, 9000, 10000000]\n')
    from bench.experiment.plan import expand
    from bench.experiment.spec import load_spec
    cells = expand(load_spec(spec, library))
    assert sorted((cell.signal == "arch", dict(cell.options)["max_samples"]) for cell in cells) == [
        (False, 700), (True, 700), (True, 9000), (True, 136055)]  # arch: 136,055 samples in the manifest


def test_stereo_that_cancels_in_the_mix_is_named_and_a_channel_can_be_chosen(library, tmp_path, capsys):
    left = np.random.default_rng(6).uniform(-0.5, 0.5, 600)
    sf.write(tmp_path / "cancel.wav", np.stack([left, -left], 1), 8000, subtype="FLOAT")
    with pytest.raises(BenchError, match="2 channels of audio file .*cancel.wav cancel in the mono mix.*--channel N"):
        load_task(f"audio:{tmp_path / 'cancel.wav'}", library, {})
    right = load_task(f"audio:{tmp_path / 'cancel.wav'}", library, {"channel": 1})
    np.testing.assert_allclose(right.target[:, 0].numpy(), -left / np.abs(left).max(), atol=1e-6)
    with pytest.raises(BenchError, match="--channel 2: audio file .* has 2 channel"):
        load_task(f"audio:{tmp_path / 'cancel.wav'}", library, {"channel": 2})

    sf.write(tmp_path / "inverted16.wav", np.stack([left, -left], 1), 8000, subtype="PCM_16")  # rounding remains
    with pytest.raises(BenchError, match="inverted16.wav cancel in the mono mix"):
        load_task(f"audio:{tmp_path / 'inverted16.wav'}", library, {})
    unrelated = np.random.default_rng(7).uniform(-0.5, 0.5, (600, 6))
    sf.write(tmp_path / "six.wav", unrelated, 8000, subtype="FLOAT")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # six unrelated channels keep 1/6 of their power: no warning
        load_task(f"audio:{tmp_path / 'six.wav'}", library, {})
    sf.write(tmp_path / "near.wav", np.stack([left, -0.9 * left], 1), 8000, subtype="FLOAT")
    with pytest.warns(UserWarning, match=r"mono mix of audio file .*near.wav keeps 0\.3% of its channels' power"):
        load_task(f"audio:{tmp_path / 'near.wav'}", library, {})
    argv = ["run", "--model", "siren", "--task", f"audio:{tmp_path / 'near.wav'}", "--out", str(tmp_path / "r"), *TINY]
    assert main(argv) == 0 and "bench: warning: the mono mix" in capsys.readouterr().err
    assert main([*argv, "--channel", "0"]) == 0
    assert pd.read_parquet(tmp_path / "r")["option.channel"].dropna().tolist() == [0]


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


def test_channel_0_of_a_mono_clip_is_the_clip_itself_and_one_cell(library, tmp_path):
    from bench.experiment.plan import expand
    from bench.experiment.spec import load_spec

    sf.write(tmp_path / "mono.wav", np.random.default_rng(9).uniform(-0.5, 0.5, 300), 8000, subtype="FLOAT")
    sf.write(tmp_path / "stereo.wav", np.random.default_rng(9).uniform(-0.5, 0.5, (300, 2)), 8000, subtype="FLOAT")
    spec = tmp_path / "s.toml"
    spec.write_text(f'seeds = [0]\nwidths = 8\nlayers = 1\n[models]\nsiren = {{}}\n[[tasks]]\ntask = "audio"\n'
                    f'signals = ["{tmp_path / "mono.wav"}", "{tmp_path / "stereo.wav"}", "arch"]\nchannel = [0]\n'
                    f'[[tasks]]\ntask = "audio"\nsignals = ["{tmp_path / "mono.wav"}", "arch"]\n')
    options = sorted((cell.signal.rsplit("/", 1)[-1], dict(cell.options).get("channel")) for cell in
                     expand(load_spec(spec, library)))
    assert options == [("arch", None), ("mono.wav", None), ("stereo.wav", 0)]  # arch is mono in the manifest
