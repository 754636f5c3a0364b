"""Report tables (bench.report.tables): cells, means over signals, significance on a known case, bold cells."""

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.experiment.store import read_results
from bench.report.tables import cell_table, render_table, significance


def test_significance_on_a_constructed_case():
    rng = np.random.default_rng(1)
    base = rng.normal(10, 1, 12)
    rows = [{"task": "audio", "signal": f"s{i % 4}", "width": 8, "layers": 2, "seed": i, "model_spec": spec,
             "snr_db": value} for i, b in enumerate(base) for spec, value in (("siren", b), ("better", b + 2.0),
                                                                              ("same", b + (0.1 if i % 2 else -0.1)))]
    table = significance(pd.DataFrame(rows), "snr_db", "siren").set_index("model")
    assert table.loc["better", "mean_diff"] == pytest.approx(2.0)
    assert table.loc["better", "pairs"] == 12
    assert np.isnan(table.loc["better", "ci_low"])  # no spread in the differences: no interval to bootstrap
    assert table.loc["better", "wilcoxon_p"] == pytest.approx(2 / 2**12)  # all 12 signs agree: exact two-sided p
    assert table.loc["same", "mean_diff"] == pytest.approx(0.0, abs=1e-12)
    assert table.loc["same", "ci_low"] < 0 < table.loc["same", "ci_high"]
    assert table.loc["same", "wilcoxon_p"] == pytest.approx(1.0)


def test_different_experiments_on_one_signal_are_separate_rows():
    from bench.report.tables import cell_table

    rows = pd.DataFrame([{"task": task, "signal": "camera", "width": 64, "layers": 3, "seed": seed,
                          "model_spec": "siren", "psnr_db": value + seed}
                         for task, value in (("poisson-grad", 30.0), ("poisson-lapl", 20.0)) for seed in (0, 1)])
    cells = cell_table(rows, "psnr_db").set_index("signal")
    assert cells.loc["camera task=poisson-grad", "mean"] == 30.5 and cells.loc["camera task=poisson-lapl", "mean"] == 20.5
    assert cells.loc["camera task=poisson-grad", "count"] == 2


def test_mean_over_signals_uses_only_signals_every_model_has():
    from bench.report.tables import cell_table, left_out_of_mean, partial_signals, render_table

    # a partial sweep: "winner" has finished a third clip that "siren" has not reached yet
    rows = pd.DataFrame([{"signal": signal, "seed": 0, "model_spec": model, "snr_db": value}
                         for model, values in (("siren", {"a": 1.0, "b": 3.0}), ("winner", {"a": 5.0, "b": 7.0, "c": 30.0}))
                         for signal, value in values.items()])
    cells = cell_table(rows, "snr_db").set_index(["signal", "model_spec"])
    assert cells.loc[("mean over signals", "siren"), "mean"] == 2.0
    assert cells.loc[("mean over signals", "winner"), "mean"] == 6.0  # c left out: siren has no result there
    assert partial_signals(cells.reset_index()) == ["c"] and "leaves out c:" in left_out_of_mean(cells.reset_index())
    assert left_out_of_mean(cell_table(rows[rows["signal"] != "c"], "snr_db")) == ""
    # no signal with every model: no mean row at all, and the table still renders
    disjoint = cell_table(rows[rows["signal"] != "a"].assign(signal=lambda r: r["signal"] + r["model_spec"]), "snr_db")
    assert "mean over signals" not in set(disjoint["signal"])
    assert "mean over signals" not in render_table(disjoint, "markdown", "snr_db")


PUBLISHED_SWEEP = Path(__file__).resolve().parents[2] / "results" / "siren2-paper-audio-cpu" / "sweep"


def test_a_level_reached_by_fewer_seeds_is_never_the_bold_cell():
    from bench.report.tables import table_rows
    from bench.report.time_to_quality import with_time_to_quality

    level = "steps_to_20_snr_db"
    rows = with_time_to_quality(read_results(PUBLISHED_SWEEP).query("signal == 'gt_bach'"))
    fastest = rows.loc[rows[level].idxmin()]  # its model keeps that seed alone: a 1/3 cell faster than any mean
    others = rows.index[(rows["model_spec"] == fastest["model_spec"]) & (rows["seed"] != fastest["seed"])]
    rows.loc[others, "curve_snr_db"] = rows.loc[others, "curve_snr_db"].map(lambda c: np.minimum(c, 19.0))
    rows = with_time_to_quality(rows)  # those seeds now stop at 19 dB: they never reach 20
    best_of_all = rows[rows["model_spec"] != fastest["model_spec"]].groupby("model_spec")[level].mean().idxmin()
    assert fastest[level] < rows[rows["model_spec"] == best_of_all][level].mean()
    cells = cell_table(table_rows(rows, level), level)
    csv = pd.read_csv(io.StringIO(render_table(cells, "csv", level))).query("signal == 'gt_bach'").set_index("model")
    assert csv.loc[fastest["model_spec"], ["mean", "n", "seeds"]].tolist() == [fastest[level], 1, 3]
    assert csv.loc[best_of_all, ["n", "seeds"]].tolist() == [3, 3]
    markdown = render_table(cells, "markdown", level)
    best = csv.loc[best_of_all]
    assert f"**{best['mean']:.0f} ± {best['std']:.0f}** (3/3)" in markdown  # the best of 3 of 3 seeds
    assert f"**{fastest[level]:.0f}**" not in markdown  # not the faster mean of 1 seed in 3


def test_lsd_tables_bold_the_lowest_mean():
    rows = pd.DataFrame({"signal": ["a"] * 4, "model_spec": ["siren", "siren", "winner", "winner"],
                         "seed": [0, 1, 0, 1], "lsd": [3.0, 3.2, 1.0, 1.1]})
    table = render_table(cell_table(rows, "lsd"), "markdown", "lsd")
    assert "**1.05 ± 0.07**" in table and "**3.10" not in table
