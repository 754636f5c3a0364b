"""Parameter budgets from the command line: bench run and specs refuse budgets out of reach or beside widths, and a
sweep over budgets records rows within 10% of each and plots against the count."""

import textwrap

import pandas as pd
import pytest

from bench.cli import main
from bench.experiment.store import read_results


def test_bench_run_refuses_a_budget_too_small_and_width_with_params(capsys):
    assert main(["run", "--model", "siren", "--task", "audio:synthetic:hf_noise", "--params", "5",
                 "--out", "unused"]) == 2
    err = capsys.readouterr().err
    assert "params:" in err and "siren" in err and "about 5 parameters" in err, err
    assert main(["run", "--params", "1000", "--width", "8", "--out", "unused"]) == 2
    assert "give --width or --params" in capsys.readouterr().err


def test_a_spec_with_widths_and_params_is_a_usage_error(tmp_path, capsys):
    spec = tmp_path / "both.toml"
    spec.write_text('seeds = [0]\nwidths = 16\nparams = 1e3\n[models]\nsiren = {}\n'
                    '[[tasks]]\ntask = "audio"\nsignals = ["synthetic:hf_noise"]\n')
    assert main(["sweep", str(spec), "--out", str(tmp_path / "out")]) == 2
    assert "give widths or params" in capsys.readouterr().err


@pytest.mark.slow
def test_a_sweep_over_two_budgets_records_rows_within_10_percent_and_plots_against_the_count(tmp_path, need):
    need("relay")
    (tmp_path / "budgets.toml").write_text(textwrap.dedent("""
        name = "budgets-test"
        seeds = [0, 1]
        params = [300, 3e3]
        layers = 2
        max_members = 16  # a fixed cap, not a timing, decides the packing
        [train]
        steps = 10
        [models]
        siren = {}
        winner = {}
        wire = {}
        [[tasks]]
        task = "audio"
        signals = ["relay"]
        max_samples = 1024
    """))
    assert main(["sweep", str(tmp_path / "budgets.toml"), "--out", str(tmp_path / "runs"), "--no-progress"]) == 0
    rows = read_results(tmp_path / "runs")
    assert len(rows) == 3 * 2 * 2 and set(rows["param_budget"]) == {300, 3000}
    assert ((rows["n_params"] - rows["param_budget"]).abs() <= 0.1 * rows["param_budget"]).all()
    siren = rows[(rows["model"] == "siren") & (rows["param_budget"] == 3000)]
    assert siren["ensemble_size"].max() > 1  # siren and winner build one network: they share ensembles
    assert main(["sweep", str(tmp_path / "budgets.toml"), "--out", str(tmp_path / "runs")]) == 0  # all done: keys hold
    assert main(["report", str(tmp_path / "runs"), "--out", str(tmp_path / "rep")]) == 0
    assert (tmp_path / "rep" / "snr_db_vs_n_params.png").is_file()
    table = pd.read_csv(tmp_path / "rep" / "table_snr_db.csv")
    assert list(dict.fromkeys(table["signal"])) == ["relay param_budget=300", "relay param_budget=3000",
                                                    "mean over signals"]
    # a row per budget holds every model, whatever width each got
    assert table.groupby("signal")["model"].nunique().eq(3).all() and table["mean"].notna().all()
