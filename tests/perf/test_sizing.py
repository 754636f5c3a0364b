"""Ensemble sizes (bench.perf.sizing): measured once, sized to the job, cached under keys that stay valid, and
measured anew when the cache is corrupt or the CPU was busy."""

from __future__ import annotations

import json

import pytest
import torch

from bench.core.provenance import device_name
from bench.models import parse_model
from bench.perf.sizing import Sizer, cache_key, fastest_size
from bench.training import Problem, TrainConfig


def test_choose_takes_the_largest_size_within_five_percent_of_the_fastest():
    assert fastest_size({1: 10.0, 2: 19.5, 4: 20.0, 8: 12.0}) == 4
    assert fastest_size({1: 10.0, 2: 9.6, 4: 5.0}) == 2
    assert fastest_size({1: 10.0, 2: 9.0}) == 1


def test_ensemble_size_is_measured_once_then_read_from_the_cache(relay_2k, _members_cache):
    problem = Problem(relay_2k, parse_model("siren"), 16, 2, TrainConfig())
    sizer = Sizer()  # one run's (a reading taken while the machine was busy is measured again by the next run)
    size = sizer.members(problem, cap=4)
    key = cache_key(problem, cap=4)  # this entry alone (other tests cache other shapes)
    entry = json.loads(_members_cache.read_text())[key]
    assert size == entry["members"] == fastest_size({int(k): v for k, v in entry["member_steps_per_s"].items()})
    assert set(entry["member_steps_per_s"]) <= {"1", "2", "4"} and "1" in entry["member_steps_per_s"]
    cache = json.loads(_members_cache.read_text())
    cache[key]["members"] = 3
    _members_cache.write_text(json.dumps(cache))
    assert sizer.members(problem, cap=4) == 3  # read back, not measured again


@pytest.mark.slow
def test_measuring_a_short_job_times_fewer_sizes_and_a_longer_job_measures_again(relay_2k, _members_cache):
    """Measuring aims at a share of the job: 20 member-steps afford only the first size; a job of a
    million member-steps may time every size, so the short job's entry is not reused for it."""
    short = Problem(relay_2k, parse_model("siren"), 40, 2, TrainConfig(steps=10))
    sizer = Sizer()
    sizer.members(short, cap=8, member_steps=20)
    key = cache_key(short, cap=8)
    entry = json.loads(_members_cache.read_text())[key]
    assert list(entry["member_steps_per_s"]) == ["1"] and entry["complete"] is False
    assert entry["job_member_steps"] == 20
    long = short.with_train(TrainConfig(steps=125_000))
    sizer.members(long, cap=8)
    again = json.loads(_members_cache.read_text())[key]
    assert again["job_member_steps"] == 1_000_000 and len(again["member_steps_per_s"]) >= 2
    sizer.members(short, cap=8, member_steps=20)  # the longer measurement serves the short job
    assert json.loads(_members_cache.read_text())[key] == again


def test_cache_keys_keep_their_fields_so_measured_caches_stay_valid(relay_2k):
    """The key of each measurement, built by hand from the JSON fields it has always had."""
    device, version = device_name(relay_2k.coords.device), torch.__version__
    plain = Problem(relay_2k, parse_model("siren"), 16, 2, TrainConfig())
    assert cache_key(plain, 4) == (f'{{"cap": 4, "d_in": 1, "d_out": 1, "device": {json.dumps(device)}, "layers": 2, '
                                   f'"model": "siren", "precision": "fp32", "samples": 2048, "task": "audio", '
                                   f'"torch": {json.dumps(version)}, "width": 16}}')
    settings = [("siren", TrainConfig(steps=7, lr=1e-3, lr_step=2)),
                ("gauss", TrainConfig(batch_size=512, precision="bf16")), ("finer", TrainConfig(batch_size=10**6))]
    for model, cfg in settings:
        problem = Problem(relay_2k, parse_model(model), 24, 3, cfg)
        fields = {"device": device, "torch": version, "task": "audio", "model": model, "d_in": 1, "d_out": 1,
                  "width": 24, "layers": 3, "samples": min(cfg.batch_size or 2048, 2048), "precision": cfg.precision,
                  "cap": 8}
        assert cache_key(problem, 8) == json.dumps(fields, sort_keys=True)


def test_a_corrupt_members_cache_is_measured_anew(relay_2k, tmp_path, monkeypatch):
    path = tmp_path / "members.json"
    path.write_text("{not json")
    monkeypatch.setenv("BENCH_MEMBERS_CACHE", str(path))
    size = Sizer().members(Problem(relay_2k, parse_model("siren"), 8, 1, TrainConfig()), cap=2)
    assert size in (1, 2)
    assert [entry["members"] for entry in json.loads(path.read_text()).values()] == [size]


def test_a_size_choice_made_under_load_is_measured_again(relay_2k, _members_cache):
    """A CPU kept busy by another process while sizes are timed is recorded; the next process re-measures."""
    problem = Problem(relay_2k, parse_model("siren"), 24, 1, TrainConfig())
    key = cache_key(problem, cap=4)
    cache = json.loads(_members_cache.read_text()) if _members_cache.is_file() else {}
    cache[key] = {"members": 3, "member_steps_per_s": {"1": 1.0, "2": 1.0, "4": 1.0}, "busy": 0.9}
    _members_cache.write_text(json.dumps(cache))
    assert Sizer().members(problem, cap=4) in (1, 2, 4)  # 3 was never a candidate
    assert json.loads(_members_cache.read_text())[key]["member_steps_per_s"] != {"1": 1.0, "2": 1.0, "4": 1.0}
