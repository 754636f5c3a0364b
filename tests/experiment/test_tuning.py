"""Tuned comparisons (bench.experiment.tuning): each model's settings chosen on the tuning split alone, and [tune]
sections refused where they would mix the tuning and test splits or are malformed."""

import json

import pandas as pd
import pytest

from bench.core.errors import BenchError, UsageError
from bench.experiment.spec import parse_spec
from bench.experiment.store import read_results
from bench.experiment.tuning import choose
from tests.helpers import TUNED_SPEC




def test_a_tuning_spec_chooses_on_the_tuning_split_and_tests_at_the_choice_and_the_defaults(tuned):
    run, spec = tuned
    tuning, test = read_results(run / "tuning"), read_results(run / "test")
    assert set(tuning["seed"]) == {10, 11} and set(tuning["signal"]) == {"vivaldi_gt"}
    assert len(tuning) == (2 + 1) * 2 * 2  # siren's 2 variants and winner, x 2 rates x 2 seeds
    assert set(test["seed"]) == {0} and set(test["signal"]) == {"arch"}
    chosen = {c["model"]: c for c in json.loads((run / "chosen.json").read_text())}
    means = tuning.groupby(["model", "model_spec", "lr"])["snr_db"].mean()
    for model in ("siren", "winner"):
        best_spec, best_lr = means[model].idxmax()
        assert (chosen[model]["chosen"], chosen[model]["train"]["lr"]) == (best_spec, best_lr)
        at_choice = test[(test["model_spec"] == best_spec) & (test["lr"] == best_lr)]
        at_default = test[(test["model_spec"] == model) & (test["lr"] == 1e-4)]
        assert len(at_choice) == 1 and len(at_default) == 1


def test_the_choice_reads_only_tuning_rows(tuned):
    run, spec = tuned
    tuning, test = read_results(run / "tuning"), read_results(run / "test")
    before = {c.model: (c.chosen.label, c.train.lr) for c in choose(spec, tuning)}
    flattering = test.assign(snr_db=1000.0)  # test rows that would win any choice they were read into
    assert {c.model: (c.chosen.label, c.train.lr) for c in choose(spec, pd.concat([tuning, flattering]))} == before
    # ...while the tuning rows decide: make one losing siren variant win there, and the choice follows it
    loser = tuning[(tuning["model"] == "siren") & ~((tuning["model_spec"] == before["siren"][0])
                                                    & (tuning["lr"] == before["siren"][1]))].iloc[0]
    boosted = tuning.copy()
    boosted.loc[(boosted["model_spec"] == loser["model_spec"]) & (boosted["lr"] == loser["lr"]), "snr_db"] = 1000.0
    after = {c.model: (c.chosen.label, c.train.lr) for c in choose(spec, boosted)}
    assert after["siren"] == (loser["model_spec"], loser["lr"]) and after["winner"] == before["winner"]


def test_a_missing_tuning_cell_or_an_unrecorded_metric_stops_the_choice(tuned, library):
    run, spec = tuned
    tuning = read_results(run / "tuning")
    with pytest.raises(BenchError, match="tuning cells have no result"):
        choose(spec, tuning.iloc[1:])
    psnr = parse_spec(TUNED_SPEC.replace("lr = [1e-4, 1e-2]", "lr = [1e-4, 1e-2]\nmetric = 'psnr_db'"), "s.toml", library)
    with pytest.raises(BenchError, match="tune.metric psnr_db"):
        choose(psnr, tuning)


@pytest.mark.parametrize("change, message", [
    (("seeds = [10, 11]", "seeds = [0, 11]"), "tune.seeds: seeds [0] are test seeds too"),
    (('signals = ["vivaldi_gt"]', 'signals = ["arch"]'), "tune.tasks[0].signals: arch are test signals of task audio"),
    (("siren = {w0_first", "finer = {w0_first"), "tune.models.finer: not a model of this spec's [models]"),
    (("lr = 1e-4\n", "lr = [1e-4, 1e-3]\n"), "train: give single values in [train] when the spec has [tune]"),
    (("lr = [1e-4, 1e-2]", "lr = [1e-4, 1e-2]\nmetrc = 'psnr_db'"), "tune.metrc: unknown key (did you mean 'metric'?)"),
    (("lr = [1e-4, 1e-2]", "lr = [1e-4, 1e-2]\nmetric = 'bogus'"), "tune.metric: unknown metric 'bogus'"),
    (("w0_first = [300.0, 3000.0]", "w0_first = [300.0, -1.0]"), "spec.toml: tune.models.siren.w0_first: -1 must be > 0"),
    (("w0_first = [300.0, 3000.0]", "w00 = [300.0]"), "spec.toml: tune.models.siren.w00: unknown parameter"),
    (("[tune]", "[[tasks]]\ntask = 'image'\nsignals = ['camera']\nside = 16\n[tune]"),
     "tune.tasks: no tuning signals for task image"),
])
def test_a_tuning_section_that_would_mix_the_splits_or_is_malformed_is_refused(library, change, message):
    with pytest.raises(UsageError) as err:
        parse_spec(TUNED_SPEC.replace(*change), "spec.toml", library)
    assert message in str(err.value)


def test_a_tuning_signal_with_a_test_signals_content_is_refused_however_named(library, tmp_path, need):
    import os
    import shutil

    need("arch")
    original = library.path("arch", "audio")
    shutil.copy(original, tmp_path / "copy.wav")
    os.link(tmp_path / "copy.wav", tmp_path / "link.wav")
    for same in (str(original), str(tmp_path / "copy.wav"), str(tmp_path / "link.wav")):
        with pytest.raises(UsageError, match="tune.tasks\\[0\\].signals: .* are test signals of task audio"):
            parse_spec(TUNED_SPEC.replace('signals = ["vivaldi_gt"]', f'signals = ["{same}"]'), "spec.toml", library)
