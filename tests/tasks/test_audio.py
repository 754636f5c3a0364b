"""The audio task on real files and users' files: mixed down, normalized by the whole clip then sliced (the
official order), offset windows, and files it cannot fit refused in one line."""

import numpy as np
import pytest
import soundfile as sf
import torch

from bench.core.errors import BenchError, UsageError
from bench.tasks import load_task
from bench.tasks.audio import load_clip


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


def test_truncated_aiff_is_refused(library, tmp_path):
    sf.write(tmp_path / "whole.aiff", np.random.default_rng(3).uniform(-0.5, 0.5, 4000), 16000, subtype="PCM_16")
    (tmp_path / "cut.aiff").write_bytes((tmp_path / "whole.aiff").read_bytes()[:4000])
    assert load_task(f"audio:{tmp_path / 'whole.aiff'}", library, {}).size == 4000
    with pytest.raises(BenchError, match="cut.aiff is truncated"):
        load_task(f"audio:{tmp_path / 'cut.aiff'}", library, {})


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


def test_an_offset_window_is_the_clip_normalized_then_cut(library):
    whole, _ = load_clip(library, "relay", None)
    window = load_task("audio:relay", library, {"offset": 1000, "max_samples": 500})
    np.testing.assert_allclose(window.target[:, 0].numpy(), whole[1000:1500], rtol=1e-6, atol=1e-7)
    assert window.info.source == "relay"
    few = load_task("inpaint-audio:relay", library, {"offset": 1000, "max_samples": 500, "keep": 0.25})
    assert few.held_out.reference.shape == (500, 1) and torch.equal(few.held_out.reference, window.target)
    with pytest.raises(UsageError, match="past the end"):
        load_task("audio:relay", library, {"offset": 10**7})
    with pytest.raises(UsageError, match="band noise"):
        load_task("audio:synthetic:band(centroid=0.5)", library, {"offset": 10, "max_samples": 1024})
