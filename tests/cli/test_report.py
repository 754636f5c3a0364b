"""Reports end to end: bench report and bench table on real sweeps; tables equal a direct pandas aggregation,
figures, failures, captions and labels."""

import hashlib
import io
import os
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from PIL import Image

from bench.cli import main
from bench.experiment.store import read_results
from bench.report.tables import (cell_table, fewest_pairs_note, formatted, render_table, seeds_caption, significance,
                                 tidy)
from bench.tasks import load_task


SWEEP = """
name = "report-test"
seeds = "0-2"
widths = 16
layers = 2
[train]
steps = 30
[models]
siren = {}
siren2 = {S0 = [0.01, 0.1, 1e30]}
[[tasks]]
task = "audio"
signals = ["arch", "relay"]
max_samples = 512
"""


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory, need):
    need("arch", "relay")
    root = tmp_path_factory.mktemp("report")
    (root / "spec.toml").write_text(textwrap.dedent(SWEEP))
    main(["sweep", str(root / "spec.toml"), "--out", str(root / "runs"), "--device", "cpu", "--no-progress"])
    return root / "runs"


@pytest.fixture(scope="module")
def report_dir(sweep_dir):
    out = sweep_dir.parent / "report"
    assert main(["report", str(sweep_dir), "--out", str(out)]) == 0
    return out


def test_table_cells_equal_a_direct_pandas_aggregation(sweep_dir, report_dir):
    results = read_results(sweep_dir)
    ok = results[results["status"] == "ok"]
    table = pd.read_csv(report_dir / "table_snr_db.csv").set_index(["signal", "model"])  # numbers, one row a cell
    expected = ok.groupby(["signal", "model_spec"])["snr_db"].agg(["mean", "std", "count"])
    for (signal, model), row in expected.iterrows():
        cell = table.loc[(signal, model)]
        assert cell["mean"] == pytest.approx(row["mean"]) and cell["std"] == pytest.approx(row["std"])
        assert cell["n"] == row["count"] and cell["metric"] == "snr_db"
        half = scipy.stats.t.ppf(0.975, row["count"] - 1) * row["std"] / np.sqrt(row["count"])
        assert (cell["ci_low"], cell["ci_high"]) == pytest.approx((row["mean"] - half, row["mean"] + half))
    per_signal_means = expected["mean"].unstack()
    for model in per_signal_means.columns:
        assert table.loc[("mean over signals", model), "mean"] == pytest.approx(per_signal_means[model].mean())
        assert np.isnan(table.loc[("mean over signals", model), "ci_low"])  # its std is a mean of stds
    markdown = (report_dir / "table_snr_db.md").read_text()
    best = per_signal_means.loc["arch"].idxmax()
    assert f"**{per_signal_means.loc['arch', best]:.2f} ±" in markdown
    latex = (report_dir / "table_snr_db.tex").read_text()
    assert r"\toprule" in latex and r"\textbf{" in latex and r"$\pm$" in latex


def test_a_cell_of_one_seed_shows_its_value_without_a_spread(sweep_dir):
    ok = read_results(sweep_dir).query("status == 'ok'")
    one_seed = ok[ok["seed"] == 0]
    cells = cell_table(one_seed, "snr_db")
    formatted_cells = formatted(cells, ("", ""), "±", "snr_db")
    for _, row in one_seed.iterrows():
        assert formatted_cells.loc[row["signal"], row["model_spec"]] == f"{row['snr_db']:.2f}"
    table = tidy(cells, "snr_db").set_index(["signal", "model"])
    assert table["std"].drop("mean over signals", level="signal").isna().all() and table["ci_low"].isna().all()
    assert "±" not in render_table(cells, "markdown", "snr_db")
    assert seeds_caption(cells).startswith("One seed per cell")
    mixed = cell_table(pd.concat([one_seed, ok[(ok["seed"] == 1) & (ok["signal"] == "arch")]]), "snr_db")
    text = formatted(mixed, ("", ""), "±", "snr_db")
    assert " ± " in text.loc["arch", "siren"] and " ± " not in text.loc["relay", "siren"]
    assert seeds_caption(mixed) == ("Mean ± std over seeds (seeds per cell: 1, 2; a cell of one seed shows its value alone; "
                                    "a std of 2 seeds rests on 2 values, a rough guide only); the mean over signals "
                                    "row: the mean of the signals' means ± the mean of their stds")


def test_audio_results_in_the_siren2_codes_convention(sweep_dir, report_dir, library):
    """Best over training of 20 log10(1 / rmse): checked against the target's own mean square."""
    table = pd.read_csv(report_dir / "table_best_psnr_peak1_db.csv").set_index(["signal", "model"])["mean"]
    ok = read_results(sweep_dir).query("status == 'ok' and model_spec == 'siren'")
    target = load_task("audio:relay", library, {"max_samples": 512}).target.double()
    power = float(target.square().mean())
    best = ok[ok["signal"] == "relay"]["best_snr_db"] - 10 * np.log10(power)
    assert table.loc[("relay", "siren")] == pytest.approx(best.mean())
    assert "In the SIREN² code's convention" in (report_dir / "README.md").read_text()


def test_failed_cells_are_counted_and_listed(report_dir):
    readme = (report_dir / "README.md").read_text()
    assert "24 rows: 18 ok, 6 failed (6 diverged)" in readme
    failed = (report_dir / "failed.md").read_text()
    assert failed.count("| diverged |") == 6 and "siren2:S0=1e+30" in failed


def test_figures_and_environment(report_dir, sweep_dir):
    for name in ("snr_db_per_signal", "snr_db_vs_S0", "snr_db_training_curves", "throughput"):
        with Image.open(report_dir / f"{name}.png") as img:
            assert img.format == "PNG" and img.size[0] > 300
        assert (report_dir / f"{name}.pdf").read_bytes().startswith(b"%PDF")
        assert f"({name}.png)" in (report_dir / "README.md").read_text()
    env = (report_dir / "environment.json").read_text()
    assert '"torch"' in env and "report-test" in env  # the spec it ran


def test_the_difference_to_the_baseline_is_the_mean_of_the_paired_differences(sweep_dir, report_dir):
    """The heatmap's cells (``mean_differences``) equal a direct pandas computation: per signal, the mean over
    seeds of model - baseline; the report shows the figure after the paired differences."""
    from bench.report.tables import mean_differences

    ok = read_results(sweep_dir).query("status == 'ok'")
    means = mean_differences(ok, "snr_db", "siren")
    per_seed = ok.pivot_table(index=["signal", "seed"], columns="model_spec", values="snr_db")
    direct = per_seed.drop(columns="siren").sub(per_seed["siren"], axis=0).groupby(level="signal").mean()
    assert list(means.index) == ["arch", "relay"] and "siren" not in means.columns
    pd.testing.assert_frame_equal(means.rename_axis(index="signal", columns="model_spec"),
                                  direct.replace([np.inf, -np.inf], np.nan).dropna(axis=1, how="all"), check_exact=False)
    readme = (report_dir / "README.md").read_text()
    assert readme.index("Paired differences model") < readme.index("(difference_snr_db.png)") < readme.index("(snr_db_per_signal.png)")
    with Image.open(report_dir / "difference_snr_db.png") as image:
        assert image.format == "PNG" and image.size[1] > 200


def test_figures_wrap_many_signals_and_long_names(sweep_dir, tmp_path):
    """Six signals (more than a row of panels) and a long model name: the panels wrap, no figure is wider than
    the limit, and none has text over text or a legend over a panel (LayoutWarning is an error in tests)."""
    from bench.core.plotting import MAX_WIDTH_PX
    from bench.report.figures import figures

    ok = read_results(sweep_dir).query("status == 'ok'")
    rows = pd.concat([ok.assign(signal=ok["signal"] + f"_copy{i}") for i in range(3)], ignore_index=True)
    rows["model_spec"] = rows["model_spec"].replace("siren", "siren:a_rather_long_parameter_name=0.123456")
    made = figures(rows, "snr_db", tmp_path)
    assert {"snr_db_per_signal.png", "snr_db_training_curves.png"} <= set(made)
    for png in made:
        with Image.open(tmp_path / png) as image:
            assert image.size[0] <= MAX_WIDTH_PX, png


def test_report_is_deterministic(sweep_dir, report_dir, tmp_path):
    again = tmp_path / "again"
    assert main(["report", str(sweep_dir), "--out", str(again)]) == 0
    digest = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in again.iterdir()}
    # README.md names the output directory in the command it records; everything else is identical
    for path in report_dir.iterdir():
        if path.name != "README.md":
            assert hashlib.sha256(path.read_bytes()).hexdigest() == digest[path.name], path.name


def test_notes_go_under_the_title(sweep_dir, tmp_path, capsys):
    notes = tmp_path / "notes.md"
    notes.write_text("Why these numbers: see [the scan](../scan/README.md).\n")
    assert main(["report", str(sweep_dir), "--out", str(tmp_path / "rep"), "--notes", str(notes)]) == 0
    lines = (tmp_path / "rep" / "README.md").read_text().splitlines()
    assert lines[0] == "# report-test"  # the spec's name (and description, had it one), not a folder's
    assert lines[2] == "Why these numbers: see [the scan](../scan/README.md)." and "--notes" in lines[4]
    assert main(["report", str(sweep_dir), "--out", str(tmp_path / "rep"), "--notes", str(tmp_path / "no.md")]) == 2
    assert "notes file not found" in capsys.readouterr().err


@pytest.mark.slow
def test_report_says_whether_the_ntk_at_init_predicts_the_fit(tmp_path, need):
    import scipy.stats

    need("relay", "arch")
    for signal in ("relay", "arch"):
        assert main(["run", "--model", "siren", "--model", "siren2:S0=0.03", "--model", "siren2:S0=0.3",
                     "--task", f"audio:{signal}", "--max-samples", "1024", "--width", "16", "--layers", "2",
                     "--steps", "20", "--seeds", "0-2", "--ntk", "init", "--ntk-points", "64",
                     "--out", str(tmp_path / "runs"), "--no-progress"]) == 0
    assert main(["report", str(tmp_path / "runs"), "--out", str(tmp_path / "rep")]) == 0
    assert "Does the NTK at init predict the final snr_db?" in (tmp_path / "rep" / "README.md").read_text()
    table = pd.read_csv(tmp_path / "rep" / "ntk_predicts_snr_db.csv")
    rows = read_results(tmp_path / "runs")
    relay = rows[rows["signal"] == "relay"]
    found = table[(table["signal"] == "relay") & (table["summary"] == "ntk_init_frac_above_centroid")].iloc[0]
    expected = scipy.stats.spearmanr(relay["ntk_init_frac_above_centroid"], relay["snr_db"]).statistic
    assert found["pairs"] == 9 and found["spearman_rho"] == pytest.approx(expected, abs=1e-5)  # csv: 6 digits
    assert found["ci_low"] <= found["spearman_rho"] <= found["ci_high"]
    assert set(table["signal"]) == {"relay", "arch", "pooled (ranks within each signal)"}
    assert (tmp_path / "rep" / "snr_db_vs_ntk_init_frac_above_centroid.png").is_file()


def test_captions_say_when_a_spread_or_a_p_value_rests_on_few_values(sweep_dir, tmp_path):
    two = read_results(sweep_dir).query("seed < 2")  # the same real rows, two seeds per cell
    cells = cell_table(two[two["status"] == "ok"], "snr_db")
    assert "a std of 2 seeds rests on 2 values" in seeds_caption(cells)
    assert "rests on" not in seeds_caption(cell_table(read_results(sweep_dir).query("status == 'ok'"), "snr_db"))
    sig = significance(two[two["status"] == "ok"], "snr_db", "siren")
    note = fewest_pairs_note(sig)
    n = int(sig["pairs"].min())
    assert n == 4 and f"with {n} pairs no two-sided Wilcoxon p can fall below {2 / 2**n:.3g}" in note


def test_a_single_panel_training_curve_figure_is_not_squashed(sweep_dir, tmp_path):
    from bench.report.figures import figures

    one = read_results(sweep_dir).query("signal == 'arch' and status == 'ok'")
    figures(one, "snr_db", tmp_path)
    with Image.open(tmp_path / "snr_db_training_curves.png") as img:
        assert img.size[0] > 1.6 * img.size[1]  # a wide panel, not a narrow box under a long title


def test_rows_that_differ_in_a_training_setting_are_never_pooled(tmp_path, capsys, need):
    need("arch")
    out = tmp_path / "out"
    for precision in ("fp32", "bf16"):
        assert main(["run", "--model", "siren", "--task", "audio:arch", "--max-samples", "256", "--width", "8",
                     "--layers", "1", "--steps", "3", "--seeds", "0", "--device", "cpu", "--no-progress",
                     "--precision", precision, "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["table", str(out), "--metric", "snr_db", "--format", "csv"]) == 0
    captured = capsys.readouterr()
    table = pd.read_csv(io.StringIO(captured.out))
    assert set(table["signal"]) >= {"arch precision=bf16", "arch precision=fp32"}
    assert "One seed per cell" in captured.err  # not "2 seeds" of one cell


def test_rows_from_before_the_main_metric_column_mix_with_newer_ones(sweep_dir, tmp_path):
    # a sweep resumed across versions: its first rows have no main_metric (NaN), later ones name it
    import shutil

    old = tmp_path / "runs"
    shutil.copytree(sweep_dir, old)
    rows = pd.read_parquet(old / "results.parquet")
    rows.loc[rows.index[: len(rows) // 2], "main_metric"] = None
    rows.to_parquet(old / "results.parquet")
    assert main(["report", str(old), "--out", str(tmp_path / "rep")]) == 0
    assert (tmp_path / "rep" / "table_snr_db.md").exists()


PUBLISHED_SWEEP = Path(__file__).resolve().parents[2] / "results" / "siren2-paper-audio-cpu" / "sweep"


def test_steps_to_a_level_say_how_many_seeds_reached_it(capsys):
    # the published sweep: on gt_counting only winner reached 30 dB, at 1 of its 3 seeds
    for fmt, cell in (("markdown", "**1000** (1/3)"), ("latex", r"\textbf{1000} (1/3)")):
        assert main(["table", str(PUBLISHED_SWEEP), "--metric", "steps_to_30_snr_db", "--format", fmt]) == 0
        lines = capsys.readouterr().out.splitlines()
        (line,) = [line for line in lines if line.lstrip("| ").startswith(("gt_counting", r"gt\_counting"))]  # a row
        assert cell in line and line.count("- (0/3)") == 4, line
    assert main(["table", str(PUBLISHED_SWEEP), "--metric", "steps_to_30_snr_db", "--format", "csv"]) == 0
    counting = pd.read_csv(io.StringIO(capsys.readouterr().out)).query("signal == 'gt_counting'").set_index("model")
    assert counting.loc["winner", ["mean", "n", "seeds"]].tolist() == [1000, 1, 3]
    assert (counting.drop("winner")["n"] == 0).all() and counting.drop("winner")["mean"].isna().all()
    assert main(["table", str(PUBLISHED_SWEEP), "--metric", "seconds_to_30_snr_db"]) == 0  # seconds count alike
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "seconds_to_30_snr_db: seconds to 30 dB SNR, lower is better"
    (line,) = [line for line in lines if line.lstrip("| ").startswith("gt_counting")]
    assert "(1/3)" in line and line.count("- (0/3)") == 4, line


def test_table_takes_any_numeric_column_with_its_direction(sweep_dir, capsys):
    """Derived columns take their metric's direction, rates are higher-better, others mark no best; a
    near-miss is one line with the nearest name and exit 2."""
    ok = read_results(sweep_dir).query("status == 'ok'")
    for column, direction in (("best_snr_db", "higher is better"), ("steps_per_s", "higher is better"),
                              ("n_params", "no best marked")):
        assert main(["table", str(sweep_dir), "--metric", column]) == 0
        out = capsys.readouterr().out
        assert out.startswith(f"{column}: ") and direction in out.splitlines()[0]
        assert ("**" in out) == (direction != "no best marked")
    assert main(["table", str(sweep_dir), "--metric", "best_snr_db", "--format", "csv"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out)).set_index(["signal", "model"])
    expected = ok.groupby(["signal", "model_spec"])["best_snr_db"].agg(["mean", "count"])
    for (signal, model), row in expected.iterrows():
        assert table.loc[(signal, model), "mean"] == pytest.approx(row["mean"])
        assert table.loc[(signal, model), "n"] == row["count"]
    for wrong, hint in (("snr", "did you mean 'snr_db'?"), ("signal", "'signal' is not numeric")):
        assert main(["table", str(sweep_dir), "--metric", wrong]) == 2
        err = capsys.readouterr().err
        assert hint in err and len(err.strip().splitlines()) == 1


def test_labels_with_special_characters_keep_their_columns_and_compile_in_latex(sweep_dir, tmp_path):
    ok = read_results(sweep_dir).query("status == 'ok'")
    odd = ok.assign(signal=ok["signal"].replace({"arch": "arch|L_1 & 50% #2"}),
                    model_spec=ok["model_spec"].replace({"siren": "siren_{a}^~$\\b"}))
    cells = cell_table(odd, "snr_db")
    lines = render_table(cells, "markdown", "snr_db").splitlines()
    assert len({len(re.findall(r"(?<!\\)\|", line)) for line in lines}) == 1  # every line has the same columns
    assert r"arch\|L_1 & 50% #2" in lines[2]
    csv = pd.read_csv(io.StringIO(render_table(cells, "csv", "snr_db")))
    assert "arch|L_1 & 50% #2" in set(csv["signal"]) and "siren_{a}^~$\\b" in set(csv["model"])
    pdflatex = shutil.which("pdflatex")
    if pdflatex is None:  # CI installs it and sets BENCH_REQUIRE_TEX=1: there the test never skips
        if os.environ.get("BENCH_REQUIRE_TEX") == "1":
            pytest.fail("pdflatex is not installed but BENCH_REQUIRE_TEX=1: install texlive-latex-recommended")
        pytest.skip("pdflatex is not installed: the LaTeX table was not compiled")
    (tmp_path / "table.tex").write_text("\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
                                        + render_table(cells, "latex", "snr_db", "a caption of 50% & #2_x {}")
                                        + "\\end{document}\n")
    done = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", "table.tex"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:]
    assert (tmp_path / "table.pdf").read_bytes().startswith(b"%PDF")


def test_an_exact_fit_is_reported_with_its_infinite_psnr(tmp_path, capsys):
    from tests.cli.test_inputs import EXACT_PLUGIN

    plugin, image, out = tmp_path / "exact.py", tmp_path / "black.png", tmp_path / "out"
    plugin.write_text(EXACT_PLUGIN)
    Image.fromarray(np.zeros((16, 16), dtype=np.uint8)).save(image)
    assert main(["--plugin", str(plugin), "run", "--model", "exact_black", "--model", "siren", "--task", f"image:{image}",
                 "--steps", "5", "--width", "8", "--layers", "1", "--seeds", "0-1", "--device", "cpu", "--no-progress",
                 "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["--plugin", str(plugin), "report", str(out), "--out", str(tmp_path / "rep")]) == 0, capsys.readouterr().err
    assert "| **inf**" in (tmp_path / "rep" / "table_psnr_db.md").read_text()
    assert (tmp_path / "rep" / "psnr_db_training_curves.png").is_file()  # the curves at inf are drawn too


def test_a_signal_named_with_dollar_signs_is_reported_as_written(tmp_path, library, need):
    """matplotlib would read "$...$" in a label as TeX math (and fail on some); labels are names."""
    need("relay")
    clip = tmp_path / "m$x^2$y $\\frac$.wav"
    shutil.copy(library.path("relay", "audio"), clip)
    assert main(["run", "--model", "siren", "--task", f"audio:{clip}", "--max-samples", "256", "--width", "8",
                 "--layers", "1", "--steps", "3", "--seeds", "0,1", "--device", "cpu", "--no-progress",
                 "--out", str(tmp_path / "runs")]) == 0
    assert main(["report", str(tmp_path / "runs"), "--out", str(tmp_path / "report")]) == 0
    assert (tmp_path / "report" / "snr_db_per_signal.png").is_file()


@pytest.mark.slow
def test_a_report_of_band_noise_draws_the_spectral_map(tmp_path, capsys):
    from bench.cli import main

    spec = tmp_path / "map.toml"
    spec.write_text("name = 'map'\nseeds = [0, 1]\nwidths = 8\nlayers = 1\nntk = 'init'\nntk_points = 32\n"
                    "[train]\nsteps = 5\n[models]\nsiren = {}\n[[tasks]]\ntask = 'audio'\n"
                    "signals = ['synthetic:band(centroid=0.2)', 'synthetic:band(centroid=0.7)']\n"
                    "max_samples = [256, 512]\n")
    assert main(["sweep", str(spec), "--out", str(tmp_path / "rows"), "--device", "cpu", "--no-progress"]) == 0
    assert main(["report", str(tmp_path / "rows"), "--out", str(tmp_path / "report")]) == 0
    readme = (tmp_path / "report" / "README.md").read_text()
    for name in ("map_snr_db", "map_snr_db_lines", "map_ntk_init_frac_above_centroid"):
        assert (tmp_path / "report" / f"{name}.png").stat().st_size > 0 and f"({name}.png)" in readme
    capsys.readouterr()


def test_table_of_a_column_without_values_is_a_usage_error(capsys):
    """A numeric column no row has a value in (an option these tasks never set) is one line naming the
    column and the fix, exit 2: not "no member finished ok" (all did) with exit 1."""
    assert read_results(PUBLISHED_SWEEP)["option.channel"].isna().all()
    assert main(["table", str(PUBLISHED_SWEEP), "--metric", "option.channel"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "'option.channel' has no value in any row" in err, err
    assert "finished ok" not in err
