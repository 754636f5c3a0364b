"""Spec files with mistakes: the nearest valid key suggested, every independent problem reported at once."""

import pytest

from bench.errors import UsageError
from bench.sweep.spec import parse_spec

TASK = "[[tasks]]\ntask = 'audio'\nsignals = ['arch']\n"


@pytest.mark.parametrize("text, message", [
    ("seeds = 1\nwidht = 3\n[models]\nsiren = {}\n" + TASK,
     "test.toml: widht: unknown key (did you mean 'widths'?); valid keys: name, description, seeds, widths,"),
    ("seeds = 1\n[train]\nstep = 3\n[models]\nsiren = {}\n" + TASK,
     "test.toml: train.step: unknown key (did you mean 'steps'?); valid keys: steps, lr,"),
    ("seeds = 1\n[models]\nsiren = {w0_frist = 3}\n" + TASK,
     "test.toml: models.siren.w0_frist: unknown parameter (did you mean 'w0_first'?); valid keys: w0: float"),
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
