"""The README's example init scheme, as a plugin of bench run, bench sweep and bench status."""

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import TINY, run_cli


README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_example_scheme_works_as_a_plugin(capsys, tmp_path):
    section = README.read_text().split("## Add your own init scheme", 1)[1]
    code_block = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    plugin = tmp_path / "siren_jitter.py"
    plugin.write_text(code_block)
    code, out, _ = run_cli(capsys, "--plugin", str(plugin), "list", "models")
    assert code == 0 and re.search(r"^siren_jitter\s.*\n.*jitter: float >= 0 = 0.5", out, re.M)
    code, out, err = run_cli(capsys, "run", "--plugin", str(plugin), "--model", "siren",
                             "--model", "siren_jitter:jitter=1.0", "--task", "audio:arch", "--max-samples", "512",
                             "--seeds", "0", "--out", str(tmp_path / "out"), *TINY)
    assert code == 0, err
    frame = pd.read_parquet(tmp_path / "out").set_index("model")
    assert frame.loc["siren_jitter", "param.jitter"] == 1.0 and frame.loc["siren_jitter", "param.w0_first"] == 3000


@pytest.mark.slow
def test_status_of_a_plugins_sweep_without_the_plugin_names_the_flag(capsys, tmp_path):
    section = README.read_text().split("## Add your own init scheme", 1)[1]
    plugin = tmp_path / "siren_jitter.py"
    plugin.write_text(re.search(r"```python\n(.*?)```", section, re.S).group(1))
    spec = tmp_path / "spec.toml"
    spec.write_text("seeds = [0]\nwidths = 8\nlayers = 1\n[train]\nsteps = 3\n[models]\nsiren_jitter = {}\n"
                    "[[tasks]]\ntask = 'audio'\nsignals = ['synthetic:hf_noise']\nmax_samples = 256\n")
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "--plugin", str(plugin), "sweep", str(spec), "--out", str(out), "--device", "cpu",
                           "--no-progress")
    assert code == 0, err
    alone = subprocess.run([sys.executable, "-m", "bench", "status", str(out)], capture_output=True, text=True)
    assert alone.returncode == 2 and alone.stderr == (
        f"bench: error: the sweep in {out} names model siren_jitter, which no loaded plugin registers; pass the "
        f"plugin file it ran with: bench status {out} --plugin FILE\n")
    code, out_text, err = run_cli(capsys, "status", str(out), "--plugin", str(plugin))
    assert code == 0 and "1 cells: 1 done" in out_text, err
