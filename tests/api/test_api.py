"""The Python API under the command line (bench.api): the same sweep, status and report a command gives,
with the context saying how to run and where messages go."""

import pandas as pd
import pytest

from bench import api
from bench.api import Context
from bench.core.errors import BenchError, UsageError
from bench.experiment.spec import parse_spec

SPEC = """name = "api"
seeds = [0, 1]
widths = 8
layers = 2
max_members = 2
[train]
steps = 5
[models]
siren = {}
winner = {}
[[tasks]]
task = "audio"
signals = ["relay"]
max_samples = 256
"""


@pytest.fixture
def spec(library, need):
    need("relay")
    return parse_spec(SPEC, "api.toml", library)


def test_a_sweep_through_the_api_stores_its_rows_resumes_and_reports(spec, library, tmp_path):
    said = []
    context = Context(library=library, progress=False, say=said.append)
    plan = api.dry_run(spec, tmp_path / "out", context)
    assert len(plan.state.left) == 4 and not (tmp_path / "out").exists()  # a dry run writes nothing
    outcome = api.sweep(spec, tmp_path / "out", context)
    assert sorted((row["model"], row["seed"]) for row in outcome.rows) == [
        ("siren", 0), ("siren", 1), ("winner", 0), ("winner", 1)]
    assert {row["status"] for row in outcome.rows} == {"ok"} and outcome.seconds > 0
    assert said[0].startswith("api: 4 cells, 0 finished, 4 to run in 2 ensembles on cpu")
    stored = api.results(tmp_path / "out")
    assert len(stored) == 4 and "steps_to_20_snr_db" in stored  # with the time-to-quality columns
    assert api.status(tmp_path / "out", library)[0].startswith("api: 4 cells: 4 done (4 ok")
    again = api.sweep(spec, tmp_path / "out", context)  # resumes: nothing left
    assert again.rows == [] and said[-1].startswith("nothing to run: all 4 cells")
    readme = api.report(tmp_path / "out", tmp_path / "report")
    assert readme == tmp_path / "report" / "README.md" and (tmp_path / "report" / "table_snr_db.csv").is_file()


def test_the_api_gives_the_numbers_the_command_gives(spec, library, tmp_path):
    from bench.cli import main

    api.sweep(spec, tmp_path / "api", Context(library=library, progress=False, say=lambda line: None))
    spec_file = tmp_path / "api.toml"
    spec_file.write_text(SPEC)
    assert main(["sweep", str(spec_file), "--out", str(tmp_path / "cli"), "--no-progress", "--device", "cpu"]) == 0
    columns = ["cell_key", "snr_db", "best_snr_db", "best_step"]
    by_api, by_cli = (api.results(tmp_path / folder)[columns].sort_values("cell_key").reset_index(drop=True)
                      for folder in ("api", "cli"))
    pd.testing.assert_frame_equal(by_api, by_cli)


def test_the_api_refuses_what_the_command_refuses(library, tmp_path):
    with pytest.raises(UsageError):
        api.sweep("no-such-spec", tmp_path / "out", Context(library=library))
    with pytest.raises(BenchError):
        api.status(tmp_path / "empty", library)  # no sweep and no results there
    assert not (tmp_path / "out").exists()
