"""The `bench` command's error paths: one line, the right exit code, nothing written."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

import bench.learned  # noqa: F401  (meta_learned and strainer, registered as in every command)
from bench.cli import main
from bench.experiment.presets import preset_names
from bench.models import load_builtin_models
from bench.tasks import load_builtin_tasks
from tests.helpers import TINY, one_line_error, run_cli

# what an unknown name is answered with: every scheme, task and preset bench knows, from their registries
MODELS = ", ".join(load_builtin_models().names())
TASKS = ", ".join(load_builtin_tasks().names())
PRESETS = ", ".join(preset_names())


@pytest.fixture
def bad_files(tmp_path):
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage")
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(2000), 16000)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0), 16000)
    image = tmp_path / "broken.png"
    image.write_bytes(b"\x89PNG not really")
    return {"corrupt": corrupt, "silent": silent, "empty": empty, "image": image}


@pytest.mark.parametrize("args, code, fragment", [
    (["--model", "xyzzy"], 2, f"unknown model 'xyzzy'; choose one of: {MODELS}"),
    (["--model", "siren2:S1=3"], 2, "unknown parameter 'S1'; valid keys: S0: float >= 0 = auto"),
    (["--model", "siren2:S0=big"], 2, "S0='big' is not a valid float"),
    (["--task", "audio:no_such_clip"], 2, "unknown signal 'no_such_clip'"),
    (["--task", "audio"], 2, "--task needs NAME:SIGNAL"),
    (["--task", "video:arch"], 2, f"unknown task 'video'; choose one of: {TASKS}"),
    (["--task", "audio:arch", "--side", "32"], 2, "--side does not apply to task audio"),
    (["--task", "audio:arch", "--max-samples", "0"], 2, "--max-samples must be >= 1, got 0"),
    (["--seeds", "a-b"], 2, "seeds 'a-b' is not a list of seeds"),
    (["--device", "cuda:0"], 2, "CUDA is not available"),
    (["--task", "audio:/no/such/file.wav"], 1, "file not found: /no/such/file.wav"),
    (["--task", "audio:{corrupt}"], 1, "cannot read audio file"),
    (["--task", "audio:{silent}"], 1, "is silent (max|x| = 0)"),
    (["--task", "audio:{empty}"], 1, "is empty"),
    (["--task", "image:{image}"], 1, "cannot read image file"),
    (["--device", "meta"], 2, "device 'meta': bench trains on the CPU or a CUDA GPU"),
    (["--device", "mps"], 2, "device 'mps': bench trains on the CPU or a CUDA GPU"),
    (["--device", "xpu"], 2, "device 'xpu': bench trains on the CPU or a CUDA GPU"),
    (["--task", "image:camera", "--side", "100000"], 2, "--side 100000 makes 10,000,000,000 pixels"),
    (["--task", "denoise-audio:arch", "--noise-snr=-1e308"], 2, "--noise-snr must be a number of dB within ±200"),
    (["--task", "denoise-audio:arch", "--noise-snr", "nan"], 2, "--noise-snr must be a finite number"),
])
def test_bad_input_is_one_line_with_the_right_exit_code(capsys, tmp_path, bad_files, args, code, fragment):
    if "cuda" in " ".join(args) and __import__("torch").cuda.is_available():
        pytest.skip("this machine has CUDA")
    args = [a.format(**bad_files) for a in args]
    result, out, err = run_cli(capsys, "run", "--out", str(tmp_path / "out"), *TINY, *args)
    assert result == code
    assert fragment in one_line_error(err)
    assert not (tmp_path / "out").exists()  # nothing trained, nothing written


def test_unknown_flag_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--widht", "3"])
    assert exit_info.value.code == 2 and "unrecognized arguments: --widht" in capsys.readouterr().err


@pytest.mark.parametrize("argv, line", [
    (["run", "--steps", "-5"], "bench run: error: argument --steps: -5 must be >= 1"),
    (["run", "--lr", "inf"], "bench run: error: argument --lr: inf must be a finite number"),
    (["run", "--widht", "3"], "bench run: error: unrecognized arguments: --widht 3"),
    (["list", "--width", "x"], "bench list: error: argument --width: must be a positive integer, got 'x'"),
    (["sweep"], "bench sweep: error: the following arguments are required: spec"),
    ([], "bench: error: the following arguments are required: COMMAND"),
    (["--plugin"], "bench: error: argument --plugin: expected one argument"),
    (["list", "modles"], "bench list: error: argument what: invalid choice: 'modles' (did you mean 'models'?); "
                         "choose from 'models', 'tasks', 'signals', 'families'"),
])
def test_argparse_errors_are_one_line_pointing_at_the_help(capsys, argv, line):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    command = line.split(": error:")[0]
    assert exit_info.value.code == 2 and capsys.readouterr().err == f"{line} (see {command} --help)\n"


@pytest.mark.parametrize("argv, line", [
    (["run", "--out", ""], "bench run: error: argument --out: empty value ''; give a value, or leave the flag out for "
                           "its default"),
    (["run", "--task", ""], "bench run: error: argument --task: empty value ''"),
    (["run", "--seeds", " "], "bench run: error: argument --seeds: empty value ' '"),
    (["sweep", "quick", "--out", ""], "bench sweep: error: argument --out: empty value ''"),
    (["sweep", ""], "bench sweep: error: argument spec: empty value ''; give one"),
    (["status", ""], "bench status: error: argument results: empty value ''; give one"),
    (["table", "runs/x", "--metric", ""], "bench table: error: argument --metric: empty value ''"),
    (["report", "runs/x", "--out", ""], "bench report: error: argument --out: empty value ''; give one"),
    (["--plugin", "", "list", "models"], "bench: error: argument --plugin: empty value ''"),
])
def test_an_empty_value_is_refused_not_taken_for_the_default(capsys, tmp_path, monkeypatch, argv, line):
    monkeypatch.chdir(tmp_path)  # where "" would have pointed
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.startswith(line) and err.count("\n") == 1, err
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("argv, fragment", [
    (["run", "--model", "sirne"], f"unknown model 'sirne' (did you mean 'siren'?); choose one of: {MODELS}"),
    (["run", "--task", "inpaint-audo:relay"],
     f"unknown task 'inpaint-audo' (did you mean 'inpaint-audio'?); choose one of: {TASKS}"),
    (["run", "--model", "siren:w00=3"],
     "siren: unknown parameter 'w00' (did you mean 'w0'?); valid keys: w0: float > 0 = 30.0, w0_first"),
    (["run", "--model", "siren2:s0=0.1"], "siren2: unknown parameter 's0' (did you mean 'S0'?); valid keys: S0"),
    (["sweep", "quikc"], f"no preset 'quikc' (did you mean 'quick'?); pass a .toml file or one of: {PRESETS}"),
])
def test_a_near_miss_name_gets_a_suggestion(capsys, tmp_path, argv, fragment):
    code, _, err = run_cli(capsys, *argv, "--device", "cpu", "--out", str(tmp_path / "out"))
    assert code == 2 and fragment in one_line_error(err)
    assert not (tmp_path / "out").exists()


MASKED = ["--task", "inpaint-audio:synthetic:hf_noise"]


@pytest.mark.parametrize("argv, message", [
    (["run", *MASKED, "--mask-seed", "-1"], "--mask-seed must be >= 0, got -1"),
    (["run", *MASKED, "--mask-seed", "x"], "--mask-seed: 'x' is not a valid int"),
    (["run", *MASKED, "--max-samples", "0"], "--max-samples must be >= 1, got 0"),
    (["run", "--task", "inpaint-image:synthetic:hf_noise", "--keep", "inf"], "--keep must be a finite number, got inf"),
    (["ntk", *MASKED, "--mask-seed", "-1"], "--mask-seed must be >= 0, got -1"),
    (["diagnose", *MASKED, "--mask-seed", "-1"], "--mask-seed must be >= 0, got -1"),
    (["bench", *MASKED, "--mask-seed", "-1", "--members", "1"], "--mask-seed must be >= 0, got -1"),
])
def test_task_flags_are_checked_by_the_task_declarations(capsys, tmp_path, argv, message):
    out = ["--out", str(tmp_path / "out")] if argv[0] == "run" else []
    code, _, err = run_cli(capsys, *argv, *out, "--device", "cpu")
    assert code == 2 and one_line_error(err) == f"bench: error: {message}"
    assert not (tmp_path / "out").exists()


SEEDED_TASK = """
from bench.core.registry import Seed32
from bench.tasks import register_task
from bench.tasks.audio import audio


@register_task(name="seeded-audio", domain="audio", help={"draw_seed": "a seed of numpy's RandomState"})
def seeded_audio(library, ref, draw_seed: Seed32 = 0):
    \"\"\"The audio task with a seed option.\"\"\"
    return audio(library, ref, max_samples=256)
"""


def test_a_seed_option_is_bounded_above_by_2_to_the_32(capsys, tmp_path):
    plugin = tmp_path / "seeded.py"
    plugin.write_text(SEEDED_TASK)
    argv = ["--plugin", str(plugin), "run", "--model", "siren", "--task", "seeded-audio:synthetic:hf_noise",
            "--seeds", "0", "--out", str(tmp_path / "out"), *TINY]
    code, _, err = run_cli(capsys, *argv, "--draw-seed", "4294967296")
    assert code == 2 and one_line_error(err) == "bench: error: --draw-seed must be < 4294967296, got 4294967296"
    code, _, err = run_cli(capsys, *argv, "--draw-seed", "4294967295")
    assert code == 0, err
    from bench.tasks import load_builtin_tasks
    assert load_builtin_tasks().get("seeded-audio").describe_params() == "draw_seed: int in [0, 4294967296) = 0"


def test_a_plugin_task_option_named_like_a_flag_is_one_line(capsys, tmp_path):
    plugin = tmp_path / "clash.py"
    plugin.write_text(SEEDED_TASK.replace("draw_seed", "steps"))
    for command in (["run", "--steps", "1"], ["run", "--help"], ["bench", "--help"]):  # the commands with task flags
        code, _, err = run_cli(capsys, "--plugin", str(plugin), *command)
        assert code == 2 and "a task option clashes with a flag of bench" in one_line_error(err)
        assert "--steps" in err and "rename that option" in err
    code, out, _ = run_cli(capsys, "--plugin", str(plugin), "list", "models")  # a command without them works
    assert code == 0 and "siren" in out


def test_table_on_a_directory_without_results(capsys, tmp_path):
    code, _, err = run_cli(capsys, "table", str(tmp_path))
    assert code == 1 and "no results" in one_line_error(err)


def test_console_script_and_module_entry_point():
    result = subprocess.run([sys.executable, "-m", "bench", "run", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "--max-samples" in result.stdout and "--preset" in result.stdout
    result = subprocess.run([sys.executable, "-m", "bench", "list", "models", "--plugin", "/no/such.py"],
                            capture_output=True, text=True)
    (line,) = result.stderr.strip().splitlines()
    assert result.returncode == 2 and line.startswith("bench: error: ") and "/no/such.py" in line, line


@pytest.mark.slow
def test_paths_that_cannot_be_written_and_inputs_that_cannot_be_read_are_one_line(capsys, tmp_path):
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("not a folder")
    for argv, fragment in (
            (["run", *TINY, "--out", str(in_the_way)], "a file is in the way"),
            (["run", *TINY, "--out", str(in_the_way / "sub")], "a part of the path is a file, not a folder"),
            (["diagnose", "--model", "siren", "--points", "64", "--plot", str(in_the_way / "x.png")],
             "a part of the path is a file"),
            (["diagnose", "--model", "wire", "--points", "64"], "complex-valued models (wire) are not supported"),
    ):
        code, _, err = run_cli(capsys, *argv)
        assert code in (1, 2) and fragment in one_line_error(err), argv
    assert main(["run", *TINY, "--out", str(tmp_path / "ok")]) == 0
    (tmp_path / "notes.md").write_bytes(b"\xff\xfe notes")
    for argv, fragment in (
            (["report", str(tmp_path / "ok"), "--out", str(in_the_way)], "a file is in the way"),
            (["report", str(tmp_path / "ok"), "--out", str(tmp_path / "r"), "--notes", str(tmp_path / "notes.md")],
             "is not UTF-8 text"),
    ):
        code, _, err = run_cli(capsys, *argv)
        assert code in (1, 2) and fragment in one_line_error(err), argv
    rows = pd.read_parquet(tmp_path / "ok")
    (tmp_path / "foreign").mkdir()
    rows.drop(columns=["model_spec"]).to_parquet(tmp_path / "foreign" / "results.parquet")
    code, _, err = run_cli(capsys, "table", str(tmp_path / "foreign"))
    assert code == 1 and "have no model_spec column, so they were not written by bench run" in one_line_error(err)


@pytest.mark.parametrize("line, names", [
    ("ntk = 5", ("ntk:", "got 5")),
    ("gpus_per_job = nan", ("gpus_per_job:", "got nan")),
    ("gpus_per_job = inf", ("gpus_per_job:", "got inf")),
])
def test_spec_values_outside_their_domain_name_their_key(capsys, tmp_path, line, names):
    spec = tmp_path / "s.toml"
    spec.write_text(f"seeds = [0]\nwidths = 8\nlayers = 1\n{line}\n[models]\nsiren = {{}}\n"
                    "[[tasks]]\ntask = 'audio'\nsignals = ['arch']\nmax_samples = 64\n")
    code, _, err = run_cli(capsys, "sweep", str(spec), "--out", str(tmp_path / "out"), "--device", "cpu")
    error = one_line_error(err)
    assert code == 2 and all(name in error for name in names), error


@pytest.mark.parametrize("argv, names", [
    (["--model", "siren", "--precision", "tf32"], ("precision tf32", "cpu")),
    (["--model", "wire", "--precision", "bf16"], ("precision bf16", "wire")),
    (["--model", "siren", "--model", "wire", "--precision", "fp32,bf16"], ("train wire at precision fp32",)),
])
def test_a_precision_that_would_not_happen_is_refused_before_training(capsys, tmp_path, argv, names):
    code, _, err = run_cli(capsys, "run", *argv, "--task", "audio:synthetic:hf_noise", "--max-samples", "256",
                           "--out", str(tmp_path / "out"), *TINY)
    error = one_line_error(err)
    assert code == 2 and all(name in error for name in names), error
    assert not (tmp_path / "out").exists()


def test_a_thread_count_beyond_any_machine_is_one_line(capsys, tmp_path):
    threads = torch.get_num_threads()
    try:
        code, _, err = run_cli(capsys, "run", "--threads", "100000", "--task", "audio:synthetic:hf_noise",
                               "--out", str(tmp_path / "out"), *TINY)
    finally:
        torch.set_num_threads(threads)
    assert code == 2 and "--threads must be auto or a number of threads from 1 to 1024, got '100000'" in one_line_error(err)
    assert not (tmp_path / "out").exists()
