"""Spec files with mistakes: the nearest valid key suggested, every independent problem reported at once."""

import re
import textwrap

import pytest

from bench.cli import main
from bench.core.errors import UsageError
from bench.experiment.spec import parse_spec

TASK = "[[tasks]]\ntask = 'audio'\nsignals = ['arch']\n"


@pytest.mark.parametrize("text, message", [
    ("seeds = 1\nwidht = 3\n[models]\nsiren = {}\n" + TASK,
     "test.toml: widht: unknown key (did you mean 'widths'?); valid keys: name, description, seeds, widths,"),
    ("seeds = 1\n[train]\nstep = 3\n[models]\nsiren = {}\n" + TASK,
     "test.toml: train.step: unknown key (did you mean 'steps'?); valid keys: steps, lr,"),
    ("seeds = 1\n[models]\nsiren = {w0_frist = 3}\n" + TASK,
     "test.toml: models.siren.w0_frist: unknown parameter (did you mean 'w0_first'?); valid keys: w0: float"),
    ("seeds = 1\n[models]\nmeta_learned = {method = 'reptil'}\n" + TASK,
     "test.toml: models.meta_learned.method: reptil must be one of reptile, maml (did you mean 'reptile'?)"),
    ("seeds = 1\n[models]\nsirne = {}\n" + TASK,
     "test.toml: models.sirne: unknown model 'sirne' (did you mean 'siren'?); choose one of: finer,"),
    ("seeds = 1\n[models]\nsiren = {}\n" + TASK + "max_sample = 64\n",
     "test.toml: tasks[0].max_sample: unknown key for task audio (did you mean 'max_samples'?); "
     "valid keys: task, signals, max_samples"),
])
def test_a_near_miss_key_gets_a_suggestion(library, text, message):
    with pytest.raises(UsageError) as err:
        parse_spec(text, "test.toml", library)
    assert str(err.value).startswith(message)


def test_two_mistakes_are_reported_together(library):
    text = "seeds = 1\n[train]\nlr = -1.0\n[models]\nsirne = {}\n" + TASK
    with pytest.raises(UsageError) as err:
        parse_spec(text, "spec.toml", library)
    assert str(err.value).startswith(
        "spec.toml: 2 problems: (1) train.lr: bad value -1.0 (-1 must be > 0); "
        "(2) models.sirne: unknown model 'sirne' (did you mean 'siren'?); choose one of: finer,")


def test_every_independent_problem_is_listed_in_file_order(library):
    text = """
        name = "a b"
        seeds = "3-1"
        widths = 0
        max_members = [2, 3]
        gpus_per_job = -1
        colour = "red"
        [train]
        steps = 1.5
        epochs = 3
        [models]
        siren = {w0 = 0, w1 = 2}
        siren2 = {S0 = [0.1, "x"]}
        winner = {}
        [[tasks]]
        task = "audio"
        signals = ["nope"]
        max_samples = 0.5
        [[tasks]]
        task = "vidoe"
        signals = ["arch"]
        [[tasks]]
        task = "image"
        signals = ["camera"]
        side = 32
    """
    with pytest.raises(UsageError) as err:
        parse_spec(textwrap.dedent(text), "spec.toml", library)
    message = str(err.value)
    keys = ["colour", "name", "seeds", "widths", "max_members", "gpus_per_job", "train.steps", "train.epochs",
            "models.siren.w0", "models.siren.w1", "models.siren2.S0", "tasks[0].signals", "tasks[0].max_samples",
            "tasks[1].task"]
    assert message.startswith(f"spec.toml: {len(keys)} problems: (1) colour: unknown key; valid keys: name,")
    found = [re.search(rf"\({i}\) {re.escape(key)}: ", message) for i, key in enumerate(keys, 1)]
    assert all(found) and [m.start() for m in found] == sorted(m.start() for m in found), message
    assert "max_members: expected one integer >= 1, got [2, 3]" in message
    assert "tasks[1].task: unknown task 'vidoe'; choose one of: audio," in message
    assert "winner" not in message and "tasks[2]" not in message  # the valid parts have no problem


def test_a_spec_with_problems_is_one_line_from_the_cli(tmp_path, capsys):
    spec = tmp_path / "two.toml"
    spec.write_text("seeds = 1\nwidths = 0\n[models]\nsiren = {w00 = 3}\n" + TASK)
    assert main(["sweep", str(spec), "--out", str(tmp_path / "out"), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err == (f"bench: error: {spec}: 2 problems: (1) widths: expected an integer >= 1 or a list of them, "
                   f"got 0; (2) models.siren.w00: unknown parameter (did you mean 'w0'?); valid keys: w0: float > 0 "
                   f"= 30.0, w0_first: float > 0 = auto\n")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("text, message", [
    ("max_members = [2, 3]\nseeds = 1\n[models]\nsiren = {}\n" + TASK,
     "test.toml: max_members: expected one integer >= 1, got [2, 3]"),
    ("ntk = 'init'\nntk_points = [4, 8]\nseeds = 1\n[models]\nsiren = {}\n" + TASK,
     "test.toml: ntk_points: expected one integer >= 2, got [4, 8]"),
    ("tasks = ['audio']\nseeds = 1\n[models]\nsiren = {}\n",
     "test.toml: tasks[0]: expected a table with task and signals"),
])
def test_a_malformed_value_is_a_usage_error_not_a_crash(library, text, message):
    with pytest.raises(UsageError) as err:
        parse_spec(text, "test.toml", library)
    assert str(err.value).startswith(message)


def test_grids_too_large_to_plan_are_refused_before_planning(tmp_path, capsys):
    from bench.cli import main

    spec = tmp_path / "huge.toml"
    base = "widths = [8, 16]\nlayers = 1\n[models]\nsiren = {{}}\n[[tasks]]\ntask = 'audio'\nsignals = ['arch']\n"
    spec.write_text('seeds = "0-100000000"\n' + base.format())
    assert main(["sweep", str(spec), "--dry-run"]) == 2
    assert "name 100,000,001 seeds, more than 100,000" in capsys.readouterr().err
    spec.write_text('seeds = "0-999"\n' + base.format())
    assert main(["sweep", str(spec), "--dry-run", "--max-cells", "1000"]) == 2
    assert "2,000 cells, more than --max-cells 1,000" in capsys.readouterr().err
    assert main(["sweep", str(spec), "--dry-run", "--max-cells", "2000"]) == 0
