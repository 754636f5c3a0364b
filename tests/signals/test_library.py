"""Signal lookup (bench.signals.library): the manifest, hashes, pooch downloads and synthetic signals."""

import functools
import http.server
import shutil
import threading

import numpy as np
import pytest
import torch

from bench.core.errors import BenchError, UsageError
from bench.signals.library import SignalLibrary, load_manifest, sha256_of
from bench.tasks import load_task


def test_manifest_lists_every_shared_file_with_its_hash(library):
    entries = load_manifest()
    assert {"gt_bach", "arch", "relay", "camera", "noise1", "braided"} <= set(entries)
    for entry in entries.values():
        assert entry.url.startswith("https://raw.githubusercontent.com/") and len(entry.sha256) == 64
        assert entry.licence.strip()  # the terms its source states, or that it states none
        path = library.local_path(entry)
        if path is not None:
            assert sha256_of(path) == entry.sha256


def test_synthetic_signals_need_no_file_and_have_strong_highs(library):
    task = load_task("audio:synthetic:hf_noise", library, {"max_samples": 8192})
    spectrum = np.abs(np.fft.rfft(task.target[:, 0].numpy())) ** 2
    low = spectrum[: len(spectrum) // 10].sum() / spectrum.sum()  # below 0.1 Nyquist
    assert low < 0.01 and task.info.centroid > 0.5
    image = load_task("image:synthetic:hf_noise", library, {"side": 64})
    assert image.target.shape == (4096, 1)
    again = load_task("audio:synthetic:hf_noise", library, {"max_samples": 8192})
    assert torch.equal(task.target, again.target)


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
                    f'source = "test"\nlicence = "test"\n')
    return path


def test_a_manifest_entry_without_its_licence_is_refused(tmp_path):
    manifest = tmp_path / "signals.toml"
    manifest.write_text('[arch]\nkind = "audio"\nfile = "audio/arch.wav"\nurl = "u"\nsha256 = "0"\nsource = "s"\n')
    with pytest.raises(BenchError, match=r"\[arch\] lacks licence; every entry states .*licence"):
        load_manifest(manifest)


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


def test_the_standard_image_sets_are_sets_of_pinned_verified_images(library, need):
    """kodak512 (the 24 Kodak images as TUNER's repository crops them) and div2k512 (the 16 DIV2K test images
    of FINER's image table): each a set of 512 x 512 RGB manifest images at a pinned commit, every file's
    sha256 checked where it is local."""
    sets = library.sets
    assert {name: len(members) for name, members in sets.items()} == {"kodak512": 24, "div2k512": 16}
    for name, repository in (("kodak512", "DianaPat/TUNER/"), ("div2k512", "liuzhen0212/FINER/")):
        for member in sets[name]:
            entry = library.entries[member]
            commit = entry.url.split(repository)[1].split("/")[0]
            assert entry.kind == "image" and len(commit) == 40 and entry.details["mode"] == "RGB"
    need(*sets["kodak512"], *sets["div2k512"])
    task = load_task(f"image:{sets['div2k512'][0]}", library, {})  # loaded whole, its hash checked
    assert task.info.d_out == 3 and task.meta["height_px"] == task.meta["width_px"] == 512


def test_a_set_stands_for_its_signals_in_a_spec_and_is_refused_as_one_signal(library):
    from bench.experiment.spec import parse_spec

    text = ('name = "s"\nseeds = [0]\nwidths = 8\nlayers = 1\n[models]\nsiren = {{}}\n[[tasks]]\ntask = "{task}"\n'
            'signals = {signals}\n')
    spec = parse_spec(text.format(task="image", signals='["kodak512", "camera", "kodak512_hats"]'), "s.toml", library)
    assert spec.tasks[0].signals == (*library.sets["kodak512"], "camera")  # every image once, in manifest order
    with pytest.raises(UsageError, match="tasks\\[0\\].signals"):
        parse_spec(text.format(task="audio", signals='["div2k512"]'), "s.toml", library)  # images, not audio
    with pytest.raises(UsageError, match="'kodak512' is a set of 24 signals"):
        library.path("kodak512", "image")
