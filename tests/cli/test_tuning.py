"""Tuned sweeps end to end: the tuned report, bench status of both splits, a tuned sweep's folder kept from
other specs, and tuning metrics a task does not record refused before training."""

import json
import subprocess
import sys
import textwrap

import pandas as pd

from bench.cli import main
from tests.helpers import TUNED_SPEC




def test_a_tuning_metric_a_task_does_not_record_is_refused_before_the_tuning_split_trains(tmp_path, capsys, need):
    need("arch", "vivaldi_gt")
    (tmp_path / "spec.toml").write_text(TUNED_SPEC.replace("lr = [1e-4, 1e-2]", "lr = [1e-4, 1e-2]\nmetric = 'psnr_db'"))
    for dry in ([], ["--dry-run"]):  # a dry run refuses it as the run does
        assert main(["sweep", str(tmp_path / "spec.toml"), "--out", str(tmp_path / "run"), "--device", "cpu",
                     "--no-progress", "--max-members", "8", *dry]) == 2
        err = capsys.readouterr().err
        assert err.startswith("bench: error: ") and err.count("\n") == 1, err  # one line, naming what to choose from
        assert all(name in err for name in ("tune.metric", "psnr_db", "snr_db, si_snr_db, lsd")), err
    assert not (tmp_path / "run").exists()


def test_the_tuned_report_shows_the_choices_both_tables_and_the_ranking(tuned, tmp_path, capsys):
    run, spec = tuned
    assert main(["report", str(run), "--out", str(tmp_path / "report")]) == 0
    readme = (tmp_path / "report" / "README.md").read_text()
    chosen = {c["model"]: c for c in json.loads((run / "chosen.json").read_text())}
    for model, choice in chosen.items():
        assert f"| {model} " in readme and choice["chosen"] in readme
    assert "audio: SNR (dB) on the test split, defaults" in readme and "on the test split, each model at its choice" in readme
    assert ("Tuning leaves the ranking as it is." in readme) != ("**Tuning changes the ranking.**" in readme)
    for name in ("table_default_audio_snr_db.md", "table_tuned_audio_snr_db.tex", "sensitivity_lr.png",
                 "test/README.md"):
        assert (tmp_path / "report" / name).is_file()
    test_title = (tmp_path / "report" / "test" / "README.md").read_text().splitlines()[0]
    assert test_title == f"# {spec.name}: test"  # the sweep its rows come from, and which split
    tuned_table = (tmp_path / "report" / "table_tuned_audio_snr_db.md").read_text()
    assert "| siren " in tuned_table.splitlines()[0] + " " and "lr=" not in tuned_table  # one column per model
    capsys.readouterr()


def test_bench_status_counts_both_splits_of_a_tuned_sweep(tuned, capsys):
    run, _ = tuned
    assert main(["status", str(run)]) == 0
    out = capsys.readouterr().out
    assert f"{run / 'tuning'}: 12 rows, 12 ok" in out and f"choices: {run / 'chosen.json'}" in out


def test_another_tuned_spec_changes_nothing_in_a_tuned_sweeps_folder(tuned, tmp_path, capsys):
    """A finished tuned sweep keeps its spec (its report reads it); one in progress is not touched either."""
    run, _ = tuned
    other = tmp_path / "other.toml"
    other.write_text(TUNED_SPEC.replace("lr = [1e-4, 1e-2]", "lr = [1e-3, 1e-2]"))
    before = {path: path.read_bytes() for path in run.rglob("*") if path.is_file()}
    capsys.readouterr()
    for extra in ([], ["--dry-run"]):
        assert main(["sweep", str(other), "--out", str(run), "--device", "cpu", "--no-progress", *extra]) == 2
        (line,) = capsys.readouterr().err.splitlines()
        assert f"{run} holds another tuned sweep ({run / 'spec.toml'})" in line and "use another --out" in line
    assert {path: path.read_bytes() for path in run.rglob("*") if path.is_file()} == before
    held = tmp_path / "held"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys
        from filelock import FileLock
        with FileLock({str(held / '_lock')!r}):  # as a tuned sweep holds its folder while it runs
            print("held", flush=True)
            sys.stdin.read()
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(["sweep", str(other), "--out", str(held), "--device", "cpu", "--no-progress"]) == 1
        assert "another bench process is writing results to" in capsys.readouterr().err
        assert [path.name for path in held.iterdir()] == ["_lock"]
    finally:
        holder.communicate("")


VARIANTS_SPEC = """
name = "variants"
seeds = [0]
widths = 8
layers = 1
[train]
steps = 5
lr = 1e-4
[models]
siren = [{}, {w0_first = 60.0}]
[[tasks]]
task = "audio"
signals = ["arch"]
max_samples = 256
[tune]
seeds = [10]
lr = [1e-4, 1e-2]
[[tune.tasks]]
task = "audio"
signals = ["vivaldi_gt"]
max_samples = 256
"""


def test_the_tuned_report_keeps_two_variants_of_one_model_apart(tmp_path, capsys, need):
    need("arch", "vivaldi_gt")
    (tmp_path / "spec.toml").write_text(VARIANTS_SPEC)
    run, report = tmp_path / "run", tmp_path / "report"
    assert main(["sweep", str(tmp_path / "spec.toml"), "--out", str(run), "--device", "cpu", "--no-progress"]) == 0
    assert main(["report", str(run), "--out", str(report)]) == 0
    variants = {"siren", "siren:w0_first=60.0"}
    for name in ("default", "tuned"):
        table = pd.read_csv(report / f"table_{name}_audio_snr_db.csv")
        assert set(table["model"]) == variants, table
    readme = (report / "README.md").read_text()
    for split in ("defaults", "tuned"):
        (ranking,) = [line for line in readme.splitlines() if line.startswith(f"- {split}: ")]
        assert set(ranking.removeprefix(f"- {split}: ").split(" > ")) == variants, ranking
    capsys.readouterr()
