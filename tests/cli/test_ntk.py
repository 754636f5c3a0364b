"""bench ntk, bench diagnose and the NTK columns of bench run."""

import numpy as np
import pandas as pd

from bench.cli import main


def test_bench_ntk_and_diagnose_commands(tmp_path, capsys, need):
    need("camera")
    code = main(["ntk", "--model", "siren", "--model", "siren2", "--task", "image:camera", "--side", "32",
                 "--width", "16", "--layers", "2", "--points", "64", "--seeds", "0-1", "--device", "cpu",
                 "--out", str(tmp_path / "ntk"), "--plot", str(tmp_path / "ntk.png")])
    out = capsys.readouterr().out
    assert code == 0 and "| siren2 " in out and "frac_above_centroid" in out
    rows = pd.read_parquet(tmp_path / "ntk")
    assert len(rows) == 4 and rows["ntk_init_total"].gt(0).all() and (tmp_path / "ntk.png").stat().st_size > 0
    code = main(["diagnose", "--model", "winner", "--width", "32", "--layers", "2", "--points", "512",
                 "--format", "csv", "--plot", str(tmp_path / "act.png")])
    out = capsys.readouterr().out
    assert code == 0 and out.startswith("layer,weight_std,pre_std,pre_std_predicted,post_kurtosis")
    assert len(out.strip().splitlines()) == 3 and (tmp_path / "act.png").stat().st_size > 0


def test_run_records_ntk_columns_at_init_and_after_training(tmp_path, capsys):
    code = main(["run", "--model", "siren", "--model", "siren2:S0=1e30", "--task", "audio:arch", "--max-samples",
                 "512", "--width", "16", "--layers", "2", "--steps", "10", "--seeds", "0", "--device", "cpu",
                 "--ntk", "init,final", "--ntk-points", "64", "--out", str(tmp_path), "--no-progress"])
    assert code == 1  # the second member diverges
    rows = pd.read_parquet(tmp_path).set_index("model")
    assert rows.loc["siren", "ntk_init_total"] > 0 and rows.loc["siren", "ntk_final_total"] > 0
    assert rows.loc["siren", "ntk_final_total"] != rows.loc["siren", "ntk_init_total"]
    assert np.isnan(rows.loc["siren2", "ntk_final_total"])  # its weights are no longer finite
    code = main(["run", "--ntk", "start", "--out", str(tmp_path)])
    assert code == 2 and "NTK stages must be among init, final" in capsys.readouterr().err
    for args, message in ((["--ntk-points", "9999"], "exceeds the signal's 512 samples"),
                          (["--model", "wire"], "the NTK of complex-valued models (wire) is not supported")):
        code = main(["run", "--task", "audio:arch", "--max-samples", "512", "--steps", "2", "--ntk", "init",
                     "--device", "cpu", "--out", str(tmp_path / "checked"), *args])
        assert code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "checked").exists()  # refused before anything trained or was written


def test_ntk_asked_of_members_stored_without_it_is_refused_not_skipped(tmp_path, capsys):
    base = ["run", "--model", "siren", "--task", "audio:arch", "--max-samples", "256", "--width", "8", "--layers", "1",
            "--steps", "3", "--seeds", "0", "--device", "cpu", "--out", str(tmp_path / "without"), "--no-progress"]
    assert main(base) == 0
    capsys.readouterr()
    assert main([*base, "--ntk", "init", "--ntk-points", "32"]) == 2
    assert "already stored" in capsys.readouterr().err
    assert "ntk_init_total" not in pd.read_parquet(tmp_path / "without")
    assert main([*base, "--ntk", "init", "--ntk-points", "32", "--out", str(tmp_path / "with")]) == 0
    assert main([*base, "--ntk", "init", "--ntk-points", "32", "--out", str(tmp_path / "with")]) == 0  # stored with it
    assert "nothing to run" in capsys.readouterr().err
