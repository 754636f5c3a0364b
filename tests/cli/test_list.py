"""bench list: models with their parameters and counts, signals, tasks and families."""

import re

from bench.cli import main
from bench.signals.library import SignalLibrary
from tests.helpers import expected_parameters, run_cli


def test_list_commands(capsys):
    code, out, _ = run_cli(capsys, "list", "models")
    assert code == 0
    for name, params in [("siren", "w0_first: float > 0 = auto"), ("siren2", "a: float > 0 = 100.0"),
                         ("siren2_filtered", "decay: float >= 0 = 0.9"), ("winner", "s1: float >= 0 = auto"),
                         ("weight_scaling", "alpha: float > 0 = 2.5"), ("vi3nr", "sigma_p: float > 0 = auto"),
                         ("tuner", "bandlimit: int >= 1 = auto, block_limit: int >= 1 = 10, c_low: float > 0 = 1.0, "
                                   "c_high: float > 0 = 0.4"),
                         ("h_siren", "w0: float > 0 = 30.0, w0_first: float > 0 = auto")]:
        assert re.search(rf"^{name}\s", out, re.M) and params in out
    code, out, _ = run_cli(capsys, "list", "signals")
    local = SignalLibrary().local_path(SignalLibrary().entries["relay"]) is not None
    assert code == 0 and re.search(rf"^relay\s+audio .*\[{'local: .*relay.wav' if local else 'not local'}", out, re.M)
    assert "synthetic:hf_noise" in out
    code, out, _ = run_cli(capsys, "list", "tasks")
    assert "--max-samples" in out and "--side" in out


def test_list_models_shows_parameter_counts(capsys):
    assert main(["list", "models", "--width", "256", "--layers", "4"]) == 0
    out = capsys.readouterr().out
    assert f"{expected_parameters('wire'):,} parameters" in out and f"{expected_parameters('siren'):,} parameters" in out


def test_bench_list_families_shows_each_familys_pieces_and_splits(capsys, image_family):
    assert main(["list", "families"]) == 0
    out = capsys.readouterr().out
    assert "crops" in out and "image:noise1 --crop 16 --crop-row 0 --crop-col 0" in out and "test:  camera" in out


def test_the_image_sets_are_listed_and_one_of_their_images_is_fitted(capsys, tmp_path, need):
    code, out, _ = run_cli(capsys, "list", "signals")
    assert code == 0 and re.search(r"^kodak512\s+image\s+a set of 24: kodak512_barn_and_pond", out, re.M)
    assert re.search(r"^div2k512\s+image\s+a set of 16", out, re.M)
    need("kodak512_hats")
    code, _, err = run_cli(capsys, "run", "--task", "image:kodak512", "--out", str(tmp_path / "set"))
    assert code == 2 and "a set of 24 signals" in err and not (tmp_path / "set").exists()
    code, out, _ = run_cli(capsys, "run", "--model", "siren", "--task", "image:kodak512_hats", "--side", "16",
                           "--steps", "3", "--width", "8", "--layers", "1", "--seeds", "0", "--device", "cpu",
                           "--no-progress", "--out", str(tmp_path / "one"))
    assert code == 0 and "psnr_db=" in out
