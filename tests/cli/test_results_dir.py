"""A results directory is never written twice over, never claimed by a failed start, never mixed
between a sweep and plain runs, and a bad file in it is a one-line error that changes nothing."""

import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.cli import main


SPEC = """
name = "dirs"
seeds = [0]
widths = 8
layers = 1
max_members = 2
[train]
steps = 3
[models]
siren = {}
siren2 = {}
[[tasks]]
task = "audio"
signals = ["SIGNAL"]
max_samples = 256
"""


def write_spec(path, signal="arch"):
    path.write_text(SPEC.replace("SIGNAL", str(signal)))
    return str(path)


def sweep(spec, out, *extra):
    return main(["sweep", spec, "--out", str(out), "--device", "cpu", "--no-progress", *extra])


def errors(err):
    return [line for line in err.splitlines() if line.startswith("bench: error: ")]


def test_a_second_writer_is_refused_while_the_first_holds_the_directory(tmp_path, capsys):
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from bench.experiment.run import results_lock
        with results_lock(Path({str(out)!r})):
            print("held", flush=True)
            sys.stdin.read()
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        spec = write_spec(tmp_path / "s.toml")
        assert sweep(spec, out) == 1
        assert main(["run", "--model", "siren", "--task", "audio:arch", "--max-samples", "64", "--width", "4",
                     "--layers", "1", "--steps", "2", "--out", str(out), "--no-progress"]) == 1
        lines = errors(capsys.readouterr().err)
        assert len(lines) == 2 and all("another bench process is writing results to" in line for line in lines)
        assert not list(out.glob("*.parquet")) and not (out / "_spec.toml").exists()
    finally:
        holder.communicate("")
    assert sweep(spec, out) == 0  # free again once the first process ended
    rows = pd.read_parquet(out)
    assert len(rows) == rows["cell_key"].nunique() == 2


def test_a_failed_start_leaves_the_directory_unclaimed(tmp_path, capsys):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage")
    out = tmp_path / "out"
    assert sweep(write_spec(tmp_path / "bad.toml", bad), out) == 1
    assert "cannot read audio file" in errors(capsys.readouterr().err)[0]
    assert not out.exists()  # nothing written, not even the spec
    assert sweep(write_spec(tmp_path / "good.toml"), out) == 0  # the corrected spec takes the directory
    assert (out / "_spec.toml").is_file() and len(pd.read_parquet(out)) == 2
    # off a terminal, one line per finished ensemble says how far the sweep is
    assert "2/2 cells, 0m" in capsys.readouterr().err


def test_sweeps_and_plain_runs_keep_to_their_own_directories(tmp_path, capsys):
    swept, ran = tmp_path / "swept", tmp_path / "ran"
    assert sweep(write_spec(tmp_path / "s.toml"), swept) == 0
    run = ["run", "--model", "siren", "--task", "audio:arch", "--max-samples", "64", "--width", "4", "--layers", "1",
           "--steps", "2", "--seeds", "0", "--device", "cpu", "--no-progress"]
    assert main(run + ["--out", str(swept)]) == 2
    assert "holds the sweep 'dirs'" in errors(capsys.readouterr().err)[0]
    assert main(run + ["--out", str(ran)]) == 0
    assert sweep(write_spec(tmp_path / "s.toml"), ran) == 2
    assert "holds results of bench run, not of a sweep" in errors(capsys.readouterr().err)[0]
    assert len(pd.read_parquet(swept)) == 2 and len(pd.read_parquet(ran)) == 1


@pytest.mark.parametrize("intruder", ["garbage", "foreign"])
def test_a_bad_parquet_file_is_named_and_nothing_changes(tmp_path, capsys, intruder):
    spec, out = write_spec(tmp_path / "s.toml"), tmp_path / "out"
    assert sweep(spec, out) == 0
    bad = out / "zz-intruder.parquet"
    if intruder == "garbage":
        bad.write_bytes(b"PAR1 this is not parquet")
    else:
        pd.DataFrame({"x": [1, 2]}).to_parquet(bad)
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    capsys.readouterr()
    for argv in (["sweep", spec, "--out", str(out), "--device", "cpu"], ["status", str(out)], ["table", str(out)]):
        assert main(argv) == 1
        (line,) = errors(capsys.readouterr().err)
        assert "cannot read results file" in line and "zz-intruder.parquet" in line and "move it out" in line
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before


def test_a_truncated_environment_file_is_named_and_results_are_kept(tmp_path, capsys):
    out = tmp_path / "out"
    assert sweep(write_spec(tmp_path / "s.toml"), out) == 0
    env = out / "_environment.json"
    env.write_text(env.read_text()[:40])
    write_spec(tmp_path / "s.toml")
    (tmp_path / "more.toml").write_text(SPEC.replace("SIGNAL", "arch").replace("seeds = [0]", "seeds = [0, 1]"))
    (out / "_spec.toml").write_text((tmp_path / "more.toml").read_text())  # a sweep grown by a seed
    rows_before = pd.read_parquet(out)
    capsys.readouterr()
    assert sweep(str(tmp_path / "more.toml"), out) == 1
    (line,) = errors(capsys.readouterr().err)
    assert "cannot read" in line and "_environment.json" in line and "move it away" in line
    pd.testing.assert_frame_equal(pd.read_parquet(out), rows_before)


def test_nothing_is_announced_before_a_usage_error(tmp_path, capsys, need):
    """The "N members in 1 ensemble(s)" line comes only once every target has loaded."""
    need("arch")
    code = main(["run", "--model", "wire", "--task", "audio:arch", "--max-samples", "512", "--width", "4",
                 "--layers", "1", "--steps", "2", "--ntk", "init", "--out", str(tmp_path / "o"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.splitlines() == errors(err) and "complex-valued" in err


def test_table_with_no_ok_member_is_one_clear_error(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", "--model", "siren2:S0=1e30", "--task", "audio:arch", "--max-samples", "64", "--width", "4",
                 "--layers", "1", "--steps", "3", "--seeds", "0", "--device", "cpu",
                 "--out", str(out), "--no-progress"]) == 1
    assert (pd.read_parquet(out)["status"] == "diverged").all()
    capsys.readouterr()
    assert main(["table", str(out)]) == 1
    (line,) = errors(capsys.readouterr().err)
    assert "no member in" in line and "finished ok" in line and "1 diverged" in line


def test_report_baseline_must_name_a_model(tmp_path, capsys):
    out = tmp_path / "out"
    assert sweep(write_spec(tmp_path / "s.toml"), out) == 0
    assert main(["report", str(out), "--out", str(tmp_path / "rep"), "--baseline", "sirn"]) == 2
    (line,) = errors(capsys.readouterr().err)
    assert "--baseline 'sirn' names no model" in line and "siren, siren2" in line
    assert not (tmp_path / "rep").exists()
    assert main(["report", str(out), "--out", str(tmp_path / "rep")]) == 0
    assert (tmp_path / "rep" / "failed.md").read_text().strip() == "none"


@pytest.mark.parametrize("content, fragment", [
    ("def oops(:\n", "failed to load (line 1): SyntaxError"),
    ("raise RuntimeError('no GPU here')\n", "failed to load: RuntimeError: no GPU here"),
])
def test_a_broken_plugin_is_one_line(tmp_path, capsys, content, fragment):
    plugin = tmp_path / "mine.py"
    plugin.write_text(content)
    assert main(["--plugin", str(plugin), "list", "models"]) == 2
    (line,) = errors(capsys.readouterr().err)
    assert fragment in line and "mine.py" in line


def test_a_plugin_must_be_a_python_file(tmp_path, capsys):
    data = tmp_path / "weights.npy"
    np.save(data, np.zeros(3))
    assert main(["--plugin", str(data), "list", "models"]) == 2
    assert "is not a .py file" in errors(capsys.readouterr().err)[0]


def test_bench_bench_needs_members(capsys):
    assert main(["bench", "--members", "0", "--device", "cpu"]) == 2
    assert "ensemble sizes must be >= 1" in errors(capsys.readouterr().err)[0]


def test_report_of_a_partial_sweep_without_the_default_baseline_yet(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", "--model", "winner", "--task", "audio:arch", "--max-samples", "256", "--width", "8",
                 "--layers", "1", "--steps", "3", "--seeds", "0-1", "--device", "cpu", "--out", str(out),
                 "--no-progress"]) == 0
    assert main(["report", str(out), "--out", str(tmp_path / "rep")]) == 0
    text = (tmp_path / "rep" / "README.md").read_text()
    assert "No `siren` results yet (none finished ok), so no paired differences" in text
    assert "Paired differences" not in text
    assert main(["report", str(out), "--out", str(tmp_path / "rep2"), "--baseline", "siren"]) == 2


def test_results_directories_do_not_nest_either_way(tmp_path, capsys):
    run = ["run", "--model", "siren", "--task", "audio:arch", "--max-samples", "64", "--width", "4", "--layers", "1",
           "--steps", "2", "--seeds", "0", "--device", "cpu", "--no-progress"]
    outer, spec = tmp_path / "outer", write_spec(tmp_path / "s.toml")
    assert main(run + ["--out", str(outer / "inner")]) == 0
    assert sweep(spec, outer) == 2  # a sweep over a folder holding a run
    assert "holds the results directory" in errors(capsys.readouterr().err)[0]
    assert sweep(spec, tmp_path / "swept") == 0
    assert main(run + ["--out", str(tmp_path / "swept" / "run")]) == 2  # a run inside a sweep
    assert "is inside the results directory" in errors(capsys.readouterr().err)[0]
    assert not (tmp_path / "swept" / "run").exists() and not (outer / "results.parquet").exists()


def test_a_claimed_but_empty_sweep_directory_takes_a_corrected_spec_and_a_sweep_may_grow(tmp_path, capsys):
    out, spec = tmp_path / "out", write_spec(tmp_path / "s.toml")
    out.mkdir()
    (out / "_spec.toml").write_text(SPEC.replace("SIGNAL", "relay"))  # as a failed start leaves it: no rows
    assert sweep(spec, out) == 0
    assert (out / "_spec.toml").read_text() == (tmp_path / "s.toml").read_text()
    grown = tmp_path / "grown.toml"
    grown.write_text((tmp_path / "s.toml").read_text().replace("seeds = [0]", "seeds = [0, 1]"))
    before = pd.read_parquet(out)
    capsys.readouterr()
    assert sweep(str(grown), out) == 0  # the same cells and more: trains the new ones only
    after = pd.read_parquet(out)
    assert len(after) == 2 * len(before) and set(before["cell_key"]) < set(after["cell_key"])
    assert (out / "_spec.toml").read_text() == grown.read_text()
    assert sweep(spec, out) == 2  # back to fewer cells: its rows would not all be this spec's


TEXT_W0_PLUGIN = '''
from typing import Annotated

from bench.models import register_model
from bench.models.ensemble import Member
from bench.models.siren import siren
from bench.core.registry import OneOf


@register_model()
def siren_named(m: Member, w0_first: Annotated[str, OneOf("paper", "double")] = "paper") -> dict:
    """SIREN recording its first-layer frequency by a name, not a number."""
    siren(m)
    return {"w0_first": w0_first}
'''

TINY_RUN = ["run", "--task", "audio:arch", "--max-samples", "64", "--width", "4", "--layers", "1", "--steps", "2",
            "--seeds", "0", "--device", "cpu", "--no-progress"]


def test_a_parameter_recorded_as_text_beside_numbers_loses_no_row(tmp_path, capsys):
    """siren's float param.w0_first, then a plugin's text one, then siren again: every row is stored."""
    plugin, out = tmp_path / "named.py", tmp_path / "out"
    plugin.write_text(TEXT_W0_PLUGIN)
    assert main(TINY_RUN + ["--model", "siren", "--out", str(out)]) == 0
    assert main(["--plugin", str(plugin)] + TINY_RUN + ["--model", "siren_named", "--out", str(out)]) == 0
    assert main(TINY_RUN + ["--model", "siren:w0_first=60", "--out", str(out)]) == 0
    rows = pd.read_parquet(out)
    assert rows["model_spec"].tolist() == ["siren", "siren_named", "siren:w0_first=60.0"]
    assert rows["param.w0_first"].tolist() == ["3000.0", "paper", "60.0"]
    capsys.readouterr()
    assert main(["--plugin", str(plugin), "table", str(out)]) == 0 and "siren_named" in capsys.readouterr().out
    for spec in ("siren:w0_first=600", "siren_named:w0_first=double"):  # a swept text parameter beside numbers
        assert main(["--plugin", str(plugin)] + TINY_RUN + ["--model", spec, "--out", str(out)]) == 0
    assert main(["--plugin", str(plugin), "report", str(out), "--out", str(tmp_path / "report")]) == 0
    assert (tmp_path / "report" / "snr_db_vs_w0_first.png").is_file()  # siren's numbers, the words left out


def test_rows_that_cannot_be_stored_are_kept_beside_and_named_in_one_line(tmp_path, capsys, monkeypatch):
    """A full disk as the results file is replaced: the trained row is kept beside, the stored one unchanged."""
    out = tmp_path / "out"
    assert main(TINY_RUN + ["--model", "siren", "--out", str(out)]) == 0
    before = (out / "results.parquet").read_bytes()
    replace = os.replace

    def full(source, target):
        if Path(target).name == "results.parquet":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        replace(source, target)

    monkeypatch.setattr(os, "replace", full)
    capsys.readouterr()
    assert main(TINY_RUN + ["--model", "finer", "--out", str(out)]) == 1
    (line,) = errors(capsys.readouterr().err)
    (kept,) = out.glob("_unsaved-*.pkl")
    assert "No space left on device" in line and f"kept in {kept}" in line
    assert pd.read_pickle(kept)["model"].tolist() == ["finer"]
    assert (out / "results.parquet").read_bytes() == before


def read_only_under(monkeypatch, folder, name):
    """Make the stdlib's ``name`` (os.open, os.mkdir) fail as on a read-only file system for paths under ``folder``."""
    real = getattr(os, name)

    def refuse(path, *args, **kwargs):
        if str(path).startswith(str(folder)):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, name, refuse)


def test_a_lock_or_report_that_cannot_be_written_is_one_line_and_changes_nothing(tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    assert main(TINY_RUN + ["--model", "siren", "--out", str(out)]) == 0
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    (out / "_lock").unlink()
    (out / "_lock").mkdir()  # a folder where the lock file goes
    capsys.readouterr()
    assert main(TINY_RUN + ["--model", "finer", "--out", str(out)]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line == (f"bench: error: {out / '_lock'} is in the way of the directory's lock file (bench makes it "
                    f"there); move it away")
    (out / "_lock").rmdir()
    with monkeypatch.context() as patch:
        read_only_under(patch, out / "_lock", "open")
        assert main(TINY_RUN + ["--model", "finer", "--out", str(out)]) == 1
        (line,) = capsys.readouterr().err.splitlines()
        assert line == (f"bench: error: cannot use {out / '_lock'}: Read-only file system; choose a path on a file "
                        f"system you can write")
    assert {path.name: path.read_bytes() for path in out.iterdir() if path.name != "_lock"} == \
           {name: content for name, content in before.items() if name != "_lock"}
    report = tmp_path / "report"
    with monkeypatch.context() as patch:
        read_only_under(patch, report, "mkdir")
        assert main(["report", str(out), "--out", str(report)]) == 1
        (line,) = capsys.readouterr().err.splitlines()
        assert line == (f"bench: error: cannot use {report}: Read-only file system; choose a path on a file system "
                        f"you can write")
    (tmp_path / "file").write_text("x")  # and for real: a folder asked for under a regular file
    assert main(["report", str(out), "--out", str(tmp_path / "file" / "report")]) == 1
    assert "Not a directory; a part of the path is a file" in capsys.readouterr().err
