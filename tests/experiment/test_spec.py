"""Spec files (bench.experiment.spec): every key checked by its domain, the nearest valid key suggested, every
independent problem reported at once, and the shipped presets valid."""

import json
import re
import textwrap

import pytest

import bench.learned  # noqa: F401  (meta_learned and strainer, registered as in every command)
from bench.core.errors import UsageError
from bench.experiment.plan import expand
from bench.experiment.spec import parse_seeds, parse_spec
from bench.models import load_builtin_models
from bench.tasks import load_builtin_tasks

# what an unknown name is answered with: every scheme and task bench knows, from their registries
MODELS = ", ".join(load_builtin_models().names())
TASKS = ", ".join(load_builtin_tasks().names())
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
     f"test.toml: models.sirne: unknown model 'sirne' (did you mean 'siren'?); choose one of: {MODELS}"),
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
        f"(2) models.sirne: unknown model 'sirne' (did you mean 'siren'?); choose one of: {MODELS}")


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
    assert f"tasks[1].task: unknown task 'vidoe'; choose one of: {TASKS}" in message
    assert "winner" not in message and "tasks[2]" not in message  # the valid parts have no problem


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


@pytest.mark.parametrize("text, message", [
    ("seeds = 1\nbogus = 2\n", "test.toml: bogus: unknown key"),
    ("seeds = 1\n[[tasks]]\ntask = 'audio'\nsignals = ['arch']\n", "test.toml: models: missing"),
    ("seeds = 1\n[models]\nsiren = {}\n", "test.toml: tasks: missing"),
    ("seeds = 1\n[models]\nsirn = {}\n", "test.toml: models.sirn: unknown model 'sirn'"),
    ("seeds = 1\n[models]\nsiren2 = {S1 = 0.1}\n", "test.toml: models.siren2.S1: unknown parameter; valid keys: S0"),
    ("seeds = 1\n[models]\nsiren2 = {S0 = [0.1, 'x']}\n", "test.toml: models.siren2.S0: 'x' is not a valid float"),
    ("seeds = 1\nwidths = [64, 0]\n[models]\nsiren = {}\n", "test.toml: widths: expected an integer >= 1"),
    ("seeds = '3-1'\n[models]\nsiren = {}\n", "test.toml: seeds: seeds '3-1' names no seed"),
    ("seeds = '9223372036854775808'\n[models]\nsiren = {}\n", "test.toml: seeds: seeds '9223372036854775808' must "
                                                               "name non-negative seeds below 2^63"),
    ("seeds = []\n[models]\nsiren = {}\n", "test.toml: seeds: empty list"),
    ("seeds = 1\nwidths = []\n[models]\nsiren = {}\n", "test.toml: widths: empty list"),
    ("seeds = 1\n[models]\nsiren2 = {S0 = []}\n", "test.toml: models.siren2.S0: empty list"),
    ("seeds = 1\n[models]\nsiren = {}\n[[tasks]]\ntask = 'audio'\nsignals = ['arch']\nmax_samples = []\n",
     "test.toml: tasks[0].max_samples: empty list"),
    ("seeds = 1\n[models]\nsiren = {}\n[[tasks]]\ntask = 'audio'\nsignals = []\n",
     "test.toml: tasks[0].signals: expected a non-empty list"),
    ("seeds = 1\n[models]\nsiren2 = {S0 = nan}\n", "test.toml: models.siren2.S0: nan must be a finite number"),
    ("seeds = 1\n[models]\nsiren2 = {S0 = inf}\n", "test.toml: models.siren2.S0: inf must be a finite number"),
    ("seeds = 1\n[models]\nsiren = {w0 = 0}\n", "test.toml: models.siren.w0: 0 must be > 0"),
    ("seeds = 1\n[models]\nwinner = {s1 = -0.5}\n", "test.toml: models.winner.s1: -0.5 must be >= 0"),
    ("name = '../../etc'\nseeds = 1\n[models]\nsiren = {}\n", "test.toml: name: '../../etc' is not a plain name"),
    ("name = ''\nseeds = 1\n[models]\nsiren = {}\n", "test.toml: name: '' is not a plain name"),
    ("seeds = 1\n[train]\nlr = -1.0\n[models]\nsiren = {}\n", "test.toml: train.lr: bad value -1.0"),
    ("seeds = 1\n[train]\nepochs = 3\n[models]\nsiren = {}\n", "test.toml: train.epochs: unknown key; valid keys: steps"),
    ("seeds = 1\n[train]\nprecision = 'fp16'\n[models]\nsiren = {}\n",
     "test.toml: train.precision: bad value 'fp16' (fp16 must be one of fp32, tf32, bf16"),
    ("seeds = 1\n[models]\nsiren = {}\n[[tasks]]\ntask = 'video'\nsignals = ['arch']\n",
     "test.toml: tasks[0].task: unknown task 'video'"),
    ("seeds = 1\n[models]\nsiren = {}\n[[tasks]]\ntask = 'audio'\nsignals = ['nope']\n",
     "test.toml: tasks[0].signals: unknown signal 'nope'"),
    ("seeds = 1\n[models]\nsiren = {}\n[[tasks]]\ntask = 'audio'\nsignals = ['camera']\n",
     "test.toml: tasks[0].signals: signal 'camera' is image, not audio"),
    ("seeds = 1\n[models]\nsiren = {}\n[[tasks]]\ntask = 'audio'\nsignals = ['arch']\nside = 3\n",
     "test.toml: tasks[0].side: unknown key for task audio; valid keys: task, signals, max_samples"),
    ("seeds = [1\n", "test.toml: not valid TOML"),
])
def test_spec_errors_name_the_key(library, text, message):
    if "tasks" not in text and "models" in text and "tasks: missing" not in message:
        text += "[[tasks]]\ntask = 'audio'\nsignals = ['arch']\n"
    with pytest.raises(UsageError) as err:
        parse_spec(text, "test.toml", library)
    assert message in str(err.value)


def test_shipped_presets_are_valid(library):
    from bench.experiment.presets import SPECS_DIR
    from bench.experiment.spec import load_spec

    names = {path.stem for path in SPECS_DIR.glob("*.toml")}
    assert {"quick", "siren2-paper-audio", "siren2-paper-image", "noise-scale", "width"} <= names
    for name in names:
        assert expand(load_spec(SPECS_DIR / f"{name}.toml", library))
    paper = load_spec(SPECS_DIR / "siren2-paper-audio.toml", library)
    train, = paper.trains
    assert (paper.widths, paper.layers, train.steps, train.lr_step, train.lr_gamma) == (
        (222,), (4,), 1000, 20, 0.99)
    assert len(paper.seeds) == 5 and len(paper.tasks[0].signals) == 11


def test_signal_dir_names_the_folder_of_relative_signal_paths(tmp_path, library):
    import soundfile as sf

    samples, rate = sf.read(library.path("arch", "audio"), frames=512)
    sf.write(tmp_path / "arch.wav", samples, rate)
    text = "seeds = [0]\n[models]\nsiren = {}\n[[tasks]]\ntask = 'audio'\nsignals = ['arch.wav']\n"
    spec = parse_spec(f"signal_dir = {json.dumps(str(tmp_path))}\n{text}", "s.toml", library)
    assert spec.tasks[0].signals == (str(tmp_path / "arch.wav"),)
    with pytest.raises(UsageError, match="signal_dir: .*'in'"):
        parse_spec(f"signal_dir = 'in'\n{text}", "s.toml", library)


HEAD = "seeds = [0, 1]\nwidths = 8\nlayers = 1\n"
TAIL = "[models]\nsiren = {}\n[[tasks]]\ntask = 'audio'\nsignals = ['arch']\nmax_samples = 256\n"


def spec(train: str, library):
    return parse_spec(HEAD + "[train]\nsteps = 4\n" + train + "\n" + TAIL, "t.toml", library)


@pytest.mark.parametrize("train, message", [
    ("lr = []", "t.toml: train.lr: empty list; give at least one value"),
    ("lr = [1e-4, -1.0]", "t.toml: train.lr: bad value -1.0"),
    ("lr_step = [10, '20']", "t.toml: train.lr_step: bad value '20'"),
])
def test_a_bad_value_in_a_train_list_names_the_setting(library, train, message):
    with pytest.raises(UsageError) as err:
        spec(train, library)
    assert str(err.value).startswith(message)


def test_training_settings_are_checked_by_their_declared_domain_in_a_spec(library):
    from bench.experiment.spec import parse_spec

    base = "seeds = 0\n[models]\nsiren = {{}}\n[[tasks]]\ntask = 'audio'\nsignals = ['arch']\n[train]\n{line}\n"
    for line, problem in (("lr = inf", "train.lr: bad value inf (inf must be a finite number)"),
                          ("steps = 2.5", "train.steps: bad value 2.5 (2.5 is not a valid int)"),
                          ("lr = '1e-4'", "train.lr: bad value '1e-4' ('1e-4' is text"),
                          ("batch_seed = -1", "train.batch_seed: bad value -1 (-1 must be >= 0)")):
        with pytest.raises(UsageError, match=re.escape(problem)):
            parse_spec(base.format(line=line), "s.toml", library)
    assert parse_spec(base.format(line="lr = 1"), "s.toml", library).trains[0].lr == 1.0


def test_parse_seeds():
    assert parse_seeds("0-3") == [0, 1, 2, 3] and parse_seeds("1-2,7") == [1, 2, 7] and parse_seeds("5") == [5]
    assert parse_seeds("1,1") == [1]  # a seed named twice is one seed, like any value listed twice in a grid
    for bad in ("", "3-1", "-2", str(2**63)):
        with pytest.raises(UsageError):
            parse_seeds(bad)
