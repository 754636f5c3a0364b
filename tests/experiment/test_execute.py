"""Training cells (bench.experiment.execute): one row per cell with the numbers of its own run, padded batches,
out-of-memory splits and checkpoints that serve only their own members."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from bench.experiment.execute import JobRunner, numerics
from bench.experiment.plan import Cell
from bench.models import parse_model
from bench.tasks import load_task
from bench.training import TrainConfig


def cells(task, width, layers, cfg, *pairs):
    return [Cell(task.name, task.signal, (), width, layers, cfg, parse_model(model), seed, task.signal)
            for model, seed in pairs]


@pytest.mark.slow
def test_siren2_beats_siren_on_a_strong_high_frequency_clip(library):
    """The SIREN² paper's failure case: relay.wav, first 16,384 samples, 4 x 64, 150 steps of Adam 1e-4."""
    task = load_task("audio:relay", library, {"max_samples": 16384})
    rows = {row["model"]: row for row in JobRunner({}, progress=False).train_cells(
        task, cells(task, 64, 4, TrainConfig(steps=150), ("siren", 0), ("siren2", 0)))}
    assert rows["siren"]["snr_db"] < 1.0
    assert rows["siren2"]["snr_db"] > rows["siren"]["snr_db"] + 1.5


def test_result_rows_carry_settings_metrics_throughput_and_provenance(relay_2k):
    (cell,) = cells(relay_2k, 16, 2, TrainConfig(steps=12), ("siren2_filtered:decay=0.8", 1))
    (row,) = JobRunner({}, progress=False).train_cells(relay_2k, [cell])
    assert row["cell_key"] == cell.key
    assert row["model"] == "siren2_filtered" and row["model_spec"] == "siren2_filtered:decay=0.8"
    assert row["param.decay"] == 0.8 and row["param.S0"] == pytest.approx(1 / 30) and row["param.w0_first"] == 3000
    assert row["seed"] == 1 and row["width"] == 16 and row["layers"] == 2 and row["steps"] == 12
    assert row["status"] == "ok" and row["snr_db"] == row["snr_db"] and row["best_snr_db"] >= row["snr_db"]
    assert row["steps_per_s"] > 0 and row["samples_per_s"] == pytest.approx(row["steps_per_s"] * 2048)
    assert row["n_params"] == (1 * 16 + 16) + (16 * 16 + 16) + (16 + 1)
    assert row["torch"] == torch.__version__ and row["device"] == "cpu" and row["commit"]


def test_a_padded_batch_gives_the_cells_their_own_numbers(relay_2k):
    """On CUDA every ensemble trains a fixed batch of members (copies of its cells fill it): the rows are
    the cells' own, one each, with the numbers they have unpadded."""
    cells = [Cell("audio", "relay", (("max_samples", 2048),), 16, 2, TrainConfig(steps=20), parse_model(name), seed, "fp")
             for name, seed in (("siren", 0), ("winner", 1))]
    runner = JobRunner({}, progress=False)
    plain = runner.train_cells(relay_2k, cells)
    padded = runner.train_cells(relay_2k, cells, batch=5)
    assert [row["cell_key"] for row in padded] == [cell.key for cell in cells]
    assert [row["curve_snr_db"] for row in padded] == [row["curve_snr_db"] for row in plain]
    assert padded[0]["numerics"] == "eager"  # on a CPU the batch does not matter


def test_numerics_name_what_else_the_numbers_depend_on():
    threads = torch.get_num_threads()
    assert numerics(torch.device("cpu"), False, 7) == "eager"
    assert numerics(torch.device("cpu"), True, 4) == f"compiled, batch 4, {threads} thread{'s' * (threads != 1)}"
    assert numerics(torch.device("cuda"), False, 16) == "eager, batch 16"


@pytest.mark.slow
def test_out_of_memory_splits_the_ensemble_then_records_oom(library):
    """A real allocation failure: the address space of a subprocess is capped with RLIMIT_AS."""
    script = textwrap.dedent("""
        import dataclasses, json, resource, sys, torch
        from bench.models import parse_model
        from bench.signals.library import SignalLibrary
        from bench.experiment.execute import JobRunner
        from bench.experiment.plan import Cell
        from bench.tasks import load_task
        from bench.training import TrainConfig

        width, budget_mib = int(sys.argv[1]), int(sys.argv[2])
        task = load_task("audio:relay", SignalLibrary(), {"max_samples": 8192})
        cells = [Cell("audio", "relay", (), width, 2, TrainConfig(steps=2), parse_model("siren"), s, "relay")
                 for s in range(8)]
        runner = JobRunner({}, progress=False)
        runner.run_cells(task, [dataclasses.replace(cells[0], width=4)])
        # ^ a tiny run first, so torch's lazy imports happen before the cap, not half-way under it
        size = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmSize"))
        limit = size + budget_mib * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        rows = runner.run_cells(task, cells)
        print(json.dumps([[r["status"], r.get("ensemble_size")] for r in rows]))
    """)
    outcomes = {}
    # 200 MiB: too little for 8 members of width 256, enough for fewer; 100 MiB: too little for one
    # member of width 1024 yet enough for the interpreter to record it
    for width, budget_mib in ((256, 200), (1024, 100)):
        result = subprocess.run([sys.executable, "-c", script, str(width), str(budget_mib)], capture_output=True,
                                text=True, env=os.environ | {"OMP_NUM_THREADS": "1"}, timeout=300)
        assert result.returncode == 0, result.stderr
        outcomes[width] = json.loads(result.stdout.strip().splitlines()[-1])
    assert all(status == "ok" for status, _ in outcomes[256])
    assert 1 <= max(size for _, size in outcomes[256]) < 8  # split, then trained
    assert outcomes[1024] == [["oom", None]] * 8


def test_a_checkpoint_serves_only_the_same_members_in_the_same_places(tmp_path):
    """Reordering a spec's models keeps the set of cells but not which member of the saved weights is whom."""
    from bench.experiment.execute import JobRunner

    runner = JobRunner({}, checkpoint_dir=tmp_path)
    assert runner.checkpoint(["a", "b"]).path != runner.checkpoint(["b", "a"]).path
    assert runner.checkpoint(["a", "b"]).path == runner.checkpoint(["a", "b"]).path
    # another scheme's or task's code (a file edited since the save) does not resume from it
    assert runner.checkpoint(["a"], ["m1/t1"]).path != runner.checkpoint(["a"], ["m2/t1"]).path
