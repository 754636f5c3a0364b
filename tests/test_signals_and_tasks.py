"""Signal lookup (manifest, hashes, pooch download) and the audio/image tasks on real files."""

import functools
import http.server
import shutil
import threading

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

from bench.core.errors import BenchError, UsageError
from bench.core.metrics import psnr_db, snr_db, spectral_centroid
from bench.signals.library import SignalLibrary, load_manifest, sha256_of
from bench.tasks import load_task


def test_manifest_lists_every_shared_file_with_its_hash(library):
    entries = load_manifest()
    assert {"gt_bach", "arch", "relay", "camera", "noise1", "braided"} <= set(entries)
    for entry in entries.values():
        assert entry.url.startswith("https://raw.githubusercontent.com/") and len(entry.sha256) == 64
        path = library.local_path(entry)
        if path is not None:
            assert sha256_of(path) == entry.sha256


def test_audio_task_mixes_down_normalises_and_slices(library, relay_2k):
    raw, rate = sf.read(library.path("relay", "audio"), dtype="float64", always_2d=True)
    assert raw.shape[1] == 2 and rate == relay_2k.meta["sample_rate"] == 24000
    full_mono = raw.mean(axis=1)
    expected = full_mono[:2048] / np.abs(full_mono).max()  # the whole clip's peak, then the slice (official order)
    np.testing.assert_allclose(relay_2k.target[:, 0].numpy(), expected, rtol=1e-6, atol=1e-7)
    assert relay_2k.target.abs().max().item() < 0.01  # relay starts quietly, and the slice keeps that level
    assert relay_2k.coords.shape == (2048, 1)
    assert relay_2k.coords[0].item() == -1.0 and relay_2k.coords[-1].item() == 1.0
    assert relay_2k.metric == "snr_db" and relay_2k.info.domain == "audio" and relay_2k.info.d_out == 1


def test_audio_task_reads_a_users_file_by_path(library, tmp_path):
    samples, rate = sf.read(library.path("gt_bach", "audio"), frames=3000)
    path = tmp_path / "my clip.flac"
    sf.write(path, samples, rate)
    task = load_task(f"audio:{path}", library, {})
    assert task.size == 3000 and task.signal == str(path)
    stored, _ = sf.read(path)  # 16-bit FLAC: compare with what the file holds
    np.testing.assert_allclose(task.target[:, 0].numpy(), stored / np.abs(stored).max(), rtol=1e-6)


def test_image_task_grid_range_and_resize(camera_32, library):
    assert camera_32.coords.shape == (1024, 2) and camera_32.target.shape == (1024, 1)
    assert camera_32.coords.min().item() == -1.0 and camera_32.coords.max().item() == 1.0
    assert camera_32.target.min().item() >= -1.0 and camera_32.target.max().item() <= 1.0
    assert camera_32.meta["psnr_data_range"] == 2.0 and camera_32.metric == "psnr_db"
    full = load_task("image:braided", library, {})
    assert (full.meta["height_px"], full.meta["width_px"]) == (400, 400) and full.size == 160_000


def test_rgb_images_keep_three_channels(library, tmp_path):
    gray = Image.open(library.path("camera", "image")).resize((24, 24))
    path = tmp_path / "rgb.png"
    Image.merge("RGB", (gray, gray.rotate(90), gray.transpose(Image.Transpose.FLIP_LEFT_RIGHT))).save(path)
    task = load_task(f"image:{path}", library, {})
    assert task.target.shape == (576, 3) and task.info.d_out == 3
    first_row_red = np.asarray(gray, dtype=np.float64)[0] / 255 * 2 - 1
    np.testing.assert_allclose(task.target[:24, 0].numpy(), first_row_red, atol=1e-6)


def test_synthetic_signals_need_no_file_and_have_strong_highs(library):
    task = load_task("audio:synthetic:hf_noise", library, {"max_samples": 8192})
    spectrum = np.abs(np.fft.rfft(task.target[:, 0].numpy())) ** 2
    low = spectrum[: len(spectrum) // 10].sum() / spectrum.sum()  # below 0.1 Nyquist
    assert low < 0.01 and task.info.centroid > 0.5
    image = load_task("image:synthetic:hf_noise", library, {"side": 64})
    assert image.target.shape == (4096, 1)
    again = load_task("audio:synthetic:hf_noise", library, {"max_samples": 8192})
    assert torch.equal(task.target, again.target)


def test_spectral_centroid_of_a_pure_tone():
    n, k = 1024, 100
    tone = np.sin(2 * np.pi * k * np.arange(n) / n)[:, None]
    assert spectral_centroid(tone) == pytest.approx(2 * k / n, rel=1e-6)
    stereo = np.concatenate([tone, tone], axis=1)  # methods.md: psi = 2 mean_c(centroid_c) / C
    assert spectral_centroid(stereo) == pytest.approx(k / n, rel=1e-6)


def test_image_centroid_runs_over_the_raster_flattened_pixels(library):
    """docs/methods.md (as the official SIREN² code): one rfft over the H*W pixels in row-major order, not
    one per row. Rows that are each constant have no energy along a row, yet the raster varies."""
    side, k = 32, 5
    image = np.repeat(np.sin(2 * np.pi * k * np.arange(side) / side)[:, None], side, axis=1)  # [H, W], constant rows
    flat = image.reshape(-1)
    magnitude = np.abs(np.fft.rfft(flat))
    expected = 2 * (magnitude * np.fft.rfftfreq(flat.size)).sum() / magnitude.sum()
    assert spectral_centroid(flat[:, None]) == pytest.approx(expected, rel=1e-9) and expected > 0.001
    camera = load_task("image:camera", library, {"side": 64})
    values = (camera.target.double().numpy() * 1.0)[:, 0]
    magnitude = np.abs(np.fft.rfft(values))
    assert camera.info.centroid == pytest.approx(2 * (magnitude * np.fft.rfftfreq(values.size)).sum() / magnitude.sum(),
                                                 rel=1e-5)


def test_metrics_in_db():
    assert snr_db(torch.tensor(0.01), 1.0).item() == pytest.approx(20.0)
    assert psnr_db(torch.tensor(0.04), 2.0).item() == pytest.approx(20.0)


def test_unknown_signal_wrong_kind_and_missing_file(library):
    with pytest.raises(UsageError, match="one of: .*arch"):
        library.path("no_such_clip", "audio")
    with pytest.raises(UsageError, match="is image, not audio"):
        library.path("camera", "audio")
    with pytest.raises(BenchError, match="file not found"):
        library.path("/nowhere/clip.wav", "audio")


def test_hash_mismatch_is_reported_with_the_fix(library, tmp_path, monkeypatch):
    (tmp_path / "audio").mkdir()
    original = library.path("arch", "audio").read_bytes()
    (tmp_path / "audio" / "arch.wav").write_bytes(original[:-100])
    with pytest.raises(BenchError, match="sha256 mismatch .*delete the file to re-download"):
        SignalLibrary(data_dir=tmp_path).path("arch", "audio")


@pytest.fixture
def served_data(library, tmp_path, monkeypatch):
    """A local HTTP server over the data directory, an empty cache, and no $BENCH_DATA."""
    root = library.path("arch", "audio").parents[1]
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.delenv("BENCH_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    yield f"http://127.0.0.1:{server.server_address[1]}", load_manifest()["arch"]
    server.shutdown()


def write_manifest(path, url, sha256):
    path.write_text(f'[arch]\nkind = "audio"\nfile = "audio/arch.wav"\nurl = "{url}"\nsha256 = "{sha256}"\n'
                    f'source = "test"\n')
    return path


def test_missing_file_is_downloaded_with_pooch_and_verified(served_data, tmp_path):
    base, entry = served_data
    manifest = write_manifest(tmp_path / "signals.toml", f"{base}/audio/arch.wav", entry.sha256)
    library = SignalLibrary(manifest=manifest)
    path = library.path("arch", "audio")
    assert path.is_relative_to(tmp_path / "cache") and sha256_of(path) == entry.sha256
    assert library.local_path(library.entries["arch"]) == path  # found in the cache next time


def test_a_failed_or_corrupted_download_is_one_clear_error(served_data, tmp_path):
    base, entry = served_data
    bad_hash = write_manifest(tmp_path / "a.toml", f"{base}/audio/arch.wav", "0" * 64)
    with pytest.raises(BenchError, match="download failed.*put audio/arch.wav under --data-dir"):
        SignalLibrary(manifest=bad_hash).path("arch", "audio")
    missing = write_manifest(tmp_path / "b.toml", f"{base}/audio/none.wav", entry.sha256)
    with pytest.raises(BenchError, match="download failed"):
        SignalLibrary(manifest=missing).path("arch", "audio")
    assert not list((tmp_path / "cache").rglob("*.wav"))  # nothing half-written left in the cache


def test_data_dir_takes_precedence_over_bench_data(library, tmp_path):
    (tmp_path / "audio").mkdir()
    shutil.copy(library.path("arch", "audio"), tmp_path / "audio" / "arch.wav")
    assert SignalLibrary(data_dir=tmp_path).path("arch", "audio") == tmp_path / "audio" / "arch.wav"
