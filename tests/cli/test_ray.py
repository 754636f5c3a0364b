"""The Ray executor on a real local Ray instance: the same rows as the local executor, a killed worker's
job retried then recorded, and a clear error without Ray. Each sweep runs in its own process."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pandas as pd
import pytest

from bench.experiment.store import read_results


pytestmark = pytest.mark.ray
needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                               reason='Ray is not installed: pip install -e ".[ray]" (CI installs it)')

SPEC = """
name = "ray-check"
seeds = "0-1"
widths = 16
layers = 2
max_members = 2
[train]
steps = 40
lr = 1e-3
[models]
siren = {{}}
{extra} = {{}}
[[tasks]]
task = "audio"
signals = ["relay"]
max_samples = 2048
"""

# A user's init scheme that kills the process running it (as a segfault would) while its marker file is absent
CRASHING_PLUGIN = '''
import os, signal
from pathlib import Path
from bench.models import Member, register_model
from bench.models.siren import siren

@register_model()
def siren_crash(m: Member) -> dict:
    """SIREN, after killing its worker the first {times} time(s)."""
    marker = Path({marker!r})
    crashes = int(marker.read_text()) if marker.exists() else 0
    if crashes < {times}:
        marker.write_text(str(crashes + 1))
        os.kill(os.getpid(), signal.SIGKILL)
    return siren(m)
'''


def _sweep(tmp_path, out: str, *flags: str, extra: str = "finer", plugin: str | None = None, prelude: str = ""):
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.format(extra=extra))
    argv = (["--plugin", plugin] if plugin else []) + ["sweep", str(spec), "--out", str(tmp_path / out),
                                                       "--no-progress", *flags]
    code = f"{prelude}\nimport sys\nfrom bench.cli import main\nsys.exit(main({argv!r}))"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                          env=os.environ | {"OMP_NUM_THREADS": "1"})


def _plugin(tmp_path, times: int) -> str:
    path = tmp_path / "crash_plugin.py"
    path.write_text(CRASHING_PLUGIN.format(marker=str(tmp_path / "crashes"), times=times))
    return str(path)


@pytest.mark.slow
@needs_ray
def test_ray_sweep_stores_the_rows_of_the_local_executor(tmp_path):
    local = _sweep(tmp_path, "local", "--device", "cpu")
    assert local.returncode == 0, local.stderr
    remote = _sweep(tmp_path, "ray", "--executor", "ray")
    assert remote.returncode == 0, remote.stderr
    assert "ray (local instance)" in remote.stderr
    a, b = (read_results(tmp_path / name).sort_values("cell_key").reset_index(drop=True) for name in ("local", "ray"))
    assert len(a) == 4 and a["cell_key"].tolist() == b["cell_key"].tolist()
    assert (a["status"] == "ok").all() and (b["status"] == "ok").all()
    pd.testing.assert_series_equal(a["snr_db"], b["snr_db"], rtol=1e-5, atol=1e-4)
    pd.testing.assert_series_equal(a["best_step"], b["best_step"])


@pytest.mark.slow
@needs_ray
def test_a_killed_worker_is_retried_and_every_cell_stored_once(tmp_path):
    result = _sweep(tmp_path, "out", "--executor", "ray", extra="siren_crash", plugin=_plugin(tmp_path, times=1))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "crashes").read_text() == "1"  # the worker really died once
    rows = pd.read_parquet(tmp_path / "out")  # every file, not just the latest row per cell
    assert sorted(rows["model"]) == ["siren", "siren", "siren_crash", "siren_crash"]
    assert rows["cell_key"].is_unique and (rows["status"] == "ok").all()


@pytest.mark.slow
@needs_ray
def test_a_job_whose_worker_keeps_dying_is_recorded_as_error(tmp_path):
    result = _sweep(tmp_path, "out", "--executor", "ray", extra="siren_crash", plugin=_plugin(tmp_path, times=99))
    assert result.returncode == 1
    assert "cells failed" in result.stderr
    rows = read_results(tmp_path / "out").set_index("model")
    assert (rows.loc["siren", "status"] == "ok").all()
    assert (rows.loc["siren_crash", "status"] == "error").all()
    assert rows.loc["siren_crash", "error"].str.contains("after 2 retries").all()
    assert (tmp_path / "crashes").read_text() == "3"  # one run and two retries
    rerun = _sweep(tmp_path, "out", "--dry-run", extra="siren_crash", plugin=_plugin(tmp_path, times=99))
    assert "2 to run" in rerun.stderr  # error cells run again next time, like any failed cell


@pytest.mark.slow
def test_without_ray_the_package_works_and_the_ray_executor_says_how_to_install_it(tmp_path):
    no_ray = "import sys; sys.modules['ray'] = None  # as if Ray were not installed"
    local = _sweep(tmp_path, "local", "--device", "cpu", prelude=no_ray)
    assert local.returncode == 0, local.stderr
    remote = _sweep(tmp_path, "ray", "--executor", "ray", prelude=no_ray)
    assert remote.returncode == 2
    assert remote.stderr.strip().splitlines()[-1] == (
        'bench: error: --executor ray needs Ray, which is not installed; install the extra with '
        'pip install -e ".[ray]" (or pip install "ray>=2.9")')


@pytest.mark.slow
@needs_ray
def test_asking_for_more_gpus_than_the_cluster_has_is_an_error_not_a_hang(tmp_path):
    result = _sweep(tmp_path, "out", "--executor", "ray", "--gpus-per-job", "1")  # this local instance: no GPU
    assert result.returncode == 1
    assert "bench: error: --gpus-per-job 1.0" in result.stderr and "0 GPUs" in result.stderr
    assert not list((tmp_path / "out").glob("*.parquet"))


@needs_ray
def test_an_unreachable_cluster_is_a_one_line_error_and_writes_no_results(tmp_path):
    result = _sweep(tmp_path, "out", "--executor", "ray", "--address", "127.0.0.1:9")
    assert result.returncode == 1
    assert "bench: error: no Ray cluster answers at --address 127.0.0.1:9" in result.stderr
    assert not list((tmp_path / "out").glob("*.parquet"))


def test_executor_options_are_checked(tmp_path, capsys):
    from bench.cli import main

    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.format(extra="finer"))
    assert main(["sweep", str(spec), "--out", str(tmp_path / "o"), "--gpus-per-job", "1", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "--gpus-per-job" in err and "--executor ray" in err, err
    assert main(["sweep", str(spec), "--out", str(tmp_path / "o"), "--executor", "ray", "--device", "cuda",
                 "--dry-run"]) == 2
    assert "--device applies to --executor local" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text('gpus_per_job = -1\n' + SPEC.format(extra="finer"))
    assert main(["sweep", str(bad), "--out", str(tmp_path / "o"), "--dry-run"]) == 2
    assert "gpus_per_job:" in capsys.readouterr().err


@pytest.mark.parametrize("address", ["garbage", "head:99999", "http://head:6379"])
def test_an_address_no_cluster_can_have_is_one_line_before_ray_starts(tmp_path, capsys, address):
    from bench.cli import main

    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.format(extra="finer"))
    assert main(["sweep", str(spec), "--out", str(tmp_path / "o"), "--executor", "ray", "--address", address]) == 2
    err = capsys.readouterr().err
    assert err == (f"bench: error: --address {address!r} is not a Ray cluster's address; give auto, HOST:PORT of a "
                   f"head node (e.g. 127.0.0.1:6379) or ray://HOST:10001, or leave it out for a local instance\n")
    assert not (tmp_path / "o").exists()
