"""Planning (bench.experiment.plan): grid expansion, stable cell keys, packing into ensembles, and training
settings as axes."""

import dataclasses
import hashlib
import json
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from bench.core.errors import UsageError
from bench.experiment.plan import Cell, cell_count, expand, pack
from bench.experiment.spec import parse_seeds, parse_spec
from bench.models import parse_model
from bench.training import TrainConfig


SPEC = """
name = "t"
seeds = "0-1"
widths = [16, 32]
layers = 2
[train]
steps = 10
[models]
siren = {}
siren2 = {S0 = [0.01, 0.1], a = [10, 100]}
[[tasks]]
task = "audio"
signals = ["arch", "synthetic:hf_noise"]
max_samples = [256, 512]
"""


def spec_of(text, library):
    return parse_spec(textwrap.dedent(text), "test.toml", library)


def test_grid_expands_to_every_combination_with_unique_stable_keys(library):
    spec = spec_of(SPEC, library)
    assert len(spec.models) == 1 + 4 and spec.models[1].params == {"S0": 0.01, "a": 10.0}
    cells = expand(spec)
    assert len(cells) == 5 * 2 * 2 * 2 * 2  # models x signals x max_samples x widths x seeds
    keys = [cell.key for cell in cells]
    assert len(set(keys)) == len(keys)
    assert keys == [cell.key for cell in expand(spec_of(SPEC, library))]


def test_cell_key_is_fixed_across_versions_and_changes_with_the_setting():
    cell = Cell("audio", "arch", (("max_samples", 4096),), 64, 3, TrainConfig(steps=300, lr=3e-4),
                parse_model("siren2:S0=0.05"), 1, "c6d81b44b2276c3437a606efa7d938f302c9a1ea88bf72aac2d5019fddf9ad44")
    # changing it orphans every stored result: only on purpose, with plan.TARGET_REVISION (2: official audio order)
    assert cell.key == "56864c6367c79cb2"
    canonical = {"task": "audio", "signal": "arch", "options": {"max_samples": 4096}, "width": 64, "layers": 3,
                 "train": {"steps": 300, "lr": 3e-4, "lr_step": None, "lr_gamma": 1.0, "batch_size": None,
                           "eval_every": 100, "batch_seed": 0}, "model": "siren2", "params": {"S0": 0.05}, "seed": 1,
                 "content": cell.fingerprint, "revision": 2}
    assert cell.key == hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()[:16]
    variants = [dataclasses.replace(cell, **{field: value}) for field, value in [
        ("seed", 2), ("width", 65), ("signal", "relay"), ("options", (("max_samples", 4097),)),
        ("train", TrainConfig(steps=300, lr=1e-4)), ("model", parse_model("siren2:S0=0.06")),
        ("fingerprint", "61de3e16a2a766e9")]]
    assert len({cell.key} | {v.key for v in variants}) == 1 + len(variants)


def test_packing_shares_ensembles_only_where_everything_but_seed_and_params_match(library):
    cells = expand(spec_of(SPEC, library))
    jobs = pack(cells, max_members=16)
    assert len(jobs) == 2 * 2 * 2  # signals x max_samples x widths; 5 models x 2 seeds = 10 members each
    for job in jobs:
        assert len(job) == 10 and len({(c.task_key, c.width, c.train) for c in job.cells}) == 1
    split = pack(cells, max_members=4)
    assert sorted(len(job) for job in split) == sorted([3, 3, 4] * 8)  # near-equal parts of 10
    assert sorted(c.key for job in split for c in job.cells) == sorted(c.key for c in cells)


def test_a_value_listed_twice_is_one_cell(library):
    """Every axis alike: seeds, widths, layers, model parameters, signals, task options."""
    spec = spec_of("seeds = [0, 0]\nwidths = [8, 8]\nlayers = [2, 2]\n[models]\nsiren2 = {S0 = [0.1, 1e-1]}\n"
                   "[[tasks]]\ntask = 'audio'\nsignals = ['arch', 'arch']\nmax_samples = [64, 64]\n", library)
    assert len(expand(spec)) == cell_count(spec) == 1
    assert parse_seeds("0-2,1") == [0, 1, 2]
    assert spec_of("seeds = [9223372036854775807]\n[models]\nsiren = {}\n[[tasks]]\ntask = 'audio'\n"
                   "signals = ['arch']\n", library).seeds == (2**63 - 1,)  # the largest int64


def test_a_list_of_tables_gives_a_model_several_grids_with_the_keys_each_has_alone(library):
    grids = spec_of("seeds = 0\n[models]\nsiren2 = [{}, {S0 = [0.01, 0.1]}, {a = 10}, {S0 = 0.1}]\n"
                    "[[tasks]]\ntask = 'audio'\nsignals = ['arch']\n", library)
    assert [m.label for m in grids.models] == ["siren2", "siren2:S0=0.01", "siren2:S0=0.1", "siren2:a=10.0"]
    alone = spec_of("seeds = 0\n[models]\nsiren2 = {}\n[[tasks]]\ntask = 'audio'\nsignals = ['arch']\n", library)
    assert expand(alone)[0].key == expand(grids)[0].key  # adding a grid leaves the cells of the others alone
    with pytest.raises(UsageError, match="or a list of such tables"):
        spec_of("[models]\nsiren2 = [{}, 3]\n[[tasks]]\ntask = 'audio'\nsignals = ['arch']\n", library)
    with pytest.raises(UsageError, match="an empty list"):
        spec_of("[models]\nsiren2 = []\n[[tasks]]\ntask = 'audio'\nsignals = ['arch']\n", library)


def test_planning_a_huge_grid_is_cheap(library):
    """A million cells: counted at once, expanded and keyed in seconds (timing is left to benchmarks)."""
    s0 = ", ".join(str(i / 1000) for i in range(1, 101))
    spec = spec_of(f"seeds = '0-999'\nwidths = [8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]\n[models]\n"
                   f"siren2 = {{S0 = [{s0}]}}\n[[tasks]]\ntask = 'audio'\nsignals = ['arch']\n", library)
    assert cell_count(spec) == 1_000_000


def test_equal_settings_written_differently_are_one_cell_and_keys_never_mix_them(library):
    """lr = 1 and lr = 1.0 are one setting; S0 = 0.0 and -0.0 are not the same JSON, and the key cache
    must not hand one the other's key."""
    base = "seeds = 0\n[train]\nlr = {lr}\n[models]\nsiren2 = {{S0 = {s0}}}\n[[tasks]]\ntask = 'audio'\nsignals = ['arch']\n"
    one = expand(spec_of(base.format(lr="1", s0="0.0"), library))[0]
    other = expand(spec_of(base.format(lr="1.0", s0="0.0"), library))[0]
    assert one.key == other.key
    minus = expand(spec_of(base.format(lr="1.0", s0="-0.0"), library))[0]
    canonical = dataclasses.asdict(minus.train)
    del canonical["precision"]
    content = {"task": "audio", "signal": "arch", "options": {"max_samples": 136055},  # the samples used
               "width": minus.width, "layers": minus.layers,
               "train": canonical, "model": "siren2", "params": {"S0": -0.0}, "seed": 0,
               "content": minus.fingerprint, "revision": 2}
    assert minus.key == hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16] != one.key


HEAD = "seeds = [0, 1]\nwidths = 8\nlayers = 1\n"
TAIL = "[models]\nsiren = {}\n[[tasks]]\ntask = 'audio'\nsignals = ['arch']\nmax_samples = 256\n"


def spec(train: str, library):
    return parse_spec(HEAD + "[train]\nsteps = 4\n" + train + "\n" + TAIL, "t.toml", library)


def test_lists_in_train_are_axes_and_single_values_keep_their_cell_keys(library):
    grid = spec("lr = [1e-4, 1e-3, 0.001]\nlr_gamma = [1.0, 0.99]\nlr_step = 2", library)
    assert cell_count(grid) == 2 * 3 * 2 - 4  # 0.001 and 1e-3 are one value
    cells = expand(grid)
    assert len(cells) == 8 and {(c.train.lr, c.train.lr_gamma) for c in cells} == {
        (1e-4, 1.0), (1e-4, 0.99), (1e-3, 1.0), (1e-3, 0.99)}
    for lr, gamma in ((1e-4, 1.0), (1e-3, 0.99)):
        single = expand(spec(f"lr = {lr}\nlr_gamma = {gamma}\nlr_step = 2", library))
        listed = expand(spec(f"lr = [{lr}]\nlr_gamma = [{gamma}]\nlr_step = 2", library))
        found = {c.key for c in cells if (c.train.lr, c.train.lr_gamma) == (lr, gamma)}
        assert {c.key for c in single} == {c.key for c in listed} == found


def test_the_published_sweep_keeps_its_cell_keys_and_reads_whole(library):
    """Every committed row of results/siren2-paper-audio-cpu/sweep is a cell of its spec (a resumed sweep
    retrains none of them), and a plain read of the folder gives them with every column."""
    from bench.experiment.plan import expand
    from bench.experiment.presets import spec_path
    from bench.experiment.run import sweep_state
    from bench.experiment.spec import load_spec

    folder = Path(__file__).resolve().parents[2] / "results" / "siren2-paper-audio-cpu" / "sweep"
    rows = pd.read_parquet(folder)
    keys = {cell.key for cell in expand(load_spec(spec_path("siren2-paper-audio-cpu"), library))}
    assert len(rows) >= 20 and set(rows["cell_key"]) <= keys and rows["cell_key"].is_unique
    assert rows[["snr_db", "lsd", "si_snr_db", "best_snr_db", "signal_power"]].notna().all().all()
    state = sweep_state(load_spec(spec_path("siren2-paper-audio-cpu"), library), folder)
    assert not state.left and not state.changed  # rows from before code was recorded count as done, not stale
