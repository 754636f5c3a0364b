"""Inputs read as their authors meant, end to end: truncated and cancelling audio, exact fits, and user files
keyed by their content."""

import warnings

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from PIL import Image

from bench.cli import main
from bench.core.errors import BenchError
from bench.tasks import load_task


TINY = ["--width", "8", "--layers", "1", "--steps", "3", "--seeds", "0", "--device", "cpu", "--no-progress"]


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
