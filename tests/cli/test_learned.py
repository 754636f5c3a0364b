"""Learned inits from the command line: train-split signals refused, families read from --data-dir, the cost of
learning reported, and rows learned from a family since changed refused or retrained."""

from pathlib import Path

import pandas as pd

from bench.cli import main


def test_fitting_a_train_split_signal_with_a_learned_init_is_an_error(capsys, tmp_path):
    code = main(["run", "--task", "audio:arch", "--offset", "16384", "--max-samples", "4096", "--model",
                 "meta_learned:outer_steps=3,inner_steps=2,batch=2", "--seeds", "0", "--steps", "5", "--device", "cpu",
                 "--out", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2 and "holds 'arch'" in err, err


def test_a_learned_init_reads_its_family_from_the_commands_data_dir(tmp_path, monkeypatch, capsys, library, need):
    need("relay")
    entry = library.entries["relay"]  # the folder the manifest's files are found in (its file: audio/relay.wav)
    data = str(library.path("relay", entry.kind).parents[len(Path(entry.file).parts) - 1])
    monkeypatch.delenv("BENCH_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # an empty download cache
    monkeypatch.setenv("BENCH_LEARNED_CACHE", str(tmp_path / "learned"))
    code = main(["run", "--task", "audio:relay", "--offset", "49152", "--max-samples", "1024", "--model",
                 "meta_learned:outer_steps=1,inner_steps=1,batch=1", "--seeds", "0", "--steps", "2", "--width", "8",
                 "--layers", "2", "--device", "cpu", "--data-dir", data, "--out", str(tmp_path / "runs")])
    assert code == 0, capsys.readouterr().err
    assert not list((tmp_path / "cache").rglob("*.wav"))  # every train clip came from --data-dir, none downloaded


def test_a_report_counts_what_learning_cost_beside_a_fit(image_family, tmp_path, capsys):
    runs, report = tmp_path / "runs", tmp_path / "report"
    assert main(["run", "--task", "image:camera", "--crop", "16", "--crop-row", "100", "--model", "siren", "--model",
                 "meta_learned:family=crops,outer_steps=3,inner_steps=2,batch=2", "--seeds", "0-1", "--steps", "5",
                 "--width", "8", "--layers", "2", "--device", "cpu", "--out", str(runs)]) == 0
    assert main(["report", str(runs), "--out", str(report)]) == 0
    cost = pd.read_csv(report / "learning_cost.csv")
    assert cost["model"].tolist() == ["meta_learned:batch=2,family=crops,inner_steps=2,outer_steps=3"]
    assert cost["learnings"].tolist() == [2] and cost["member-steps a learning"].tolist() == [12]  # one per seed
    assert cost["fits from them"].tolist() == [2] and cost["steps of a fit"].tolist() == [5]
    assert "## Cost of learning" in (report / "README.md").read_text()


def test_a_bad_learning_save_interval_stops_the_command_before_training(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BENCH_LEARN_SAVE_SECONDS", "often")
    code = main(["run", "--task", "audio:relay", "--max-samples", "256", "--model", "siren", "--model",
                 "meta_learned:outer_steps=1,inner_steps=1,batch=1", "--seeds", "0", "--steps", "2", "--width", "8",
                 "--layers", "2", "--device", "cpu", "--out", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2 and "$BENCH_LEARN_SAVE_SECONDS" in err and "'often'" in err, err
    assert not (tmp_path / "runs").exists()  # nothing trained, nothing written


def test_rows_learned_from_a_family_since_changed_are_refused_or_retrained(image_family, tmp_path, capsys):
    from bench.experiment.store import read_results

    runs = tmp_path / "runs"
    command = ["run", "--task", "image:camera", "--crop", "16", "--crop-row", "100", "--model",
               "meta_learned:family=crops,outer_steps=1,inner_steps=1,batch=1", "--seeds", "0", "--steps", "2",
               "--width", "8", "--layers", "2", "--device", "cpu", "--no-progress", "--out", str(runs)]
    assert main(command) == 0
    before = read_results(runs)["family_fingerprint"].tolist()
    families = Path(__import__("os").environ["BENCH_FAMILIES"])
    families.write_text(families.read_text().replace('train = ["noise1", "braided"]', 'train = ["noise1"]'))
    capsys.readouterr()
    assert main(command) == 2  # the same cell, learned from another train split: not taken for current
    assert "meta_learned (its family's train split)" in capsys.readouterr().err
    assert main(command + ["--retrain-changed"]) == 0
    after = read_results(runs)["family_fingerprint"].tolist()
    assert len(after) == 1 and after != before
