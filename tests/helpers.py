"""What several test modules share: the tuned sweep's spec, and running the command line in-process."""

from bench.cli import main

TINY = ["--width", "16", "--layers", "2", "--steps", "15", "--device", "cpu", "--no-progress"]

TUNED_SPEC = """
name = "tuned"
seeds = [0]
widths = 8
layers = 2
[train]
steps = 20
lr = 1e-4
[models]
siren = {}
winner = {}
[[tasks]]
task = "audio"
signals = ["arch"]
max_samples = 512
[tune]
seeds = [10, 11]
lr = [1e-4, 1e-2]
[tune.models]
siren = {w0_first = [300.0, 3000.0]}
[[tune.tasks]]
task = "audio"
signals = ["vivaldi_gt"]
max_samples = 512
"""


def run_cli(capsys, *argv):
    """``bench ARGV`` in this process: (exit code, stdout, stderr)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err):
    """The single error line (other stderr lines are progress notes); never a traceback."""
    errors = [line for line in err.splitlines() if line.startswith("bench: error: ")]
    assert len(errors) == 1 and "Traceback" not in err, err
    return errors[0]
