"""What several test modules share: the tuned sweep's spec, running the command line in-process, parameter
counts made by hand, and one member's init on a bare signal description."""

import math

from bench.cli import main
from bench.models import Architecture, MemberSpec, SignalInfo, build_ensemble, parse_model

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


def expected_parameters(name, width=256, layers=4):
    """Trainable parameters of scheme ``name``'s network (d_in = d_out = 1), counted by hand."""
    if name == "wire":
        h = int(width / math.sqrt(2))
        return (h + h) + (layers - 1) * 2 * (h * h + h) + 2 * (h + 1)
    if name == "relu_pe":  # the encoding is not trained
        first = (2 * (width // 2)) * width + width
    else:  # tuner's first-layer weights are frozen, its bias trains
        first = width if name == "tuner" else width + width
    return first + (layers - 1) * (width * width + width) + (width + 1)


AUDIO = SignalInfo("audio", d_in=1, d_out=1, centroid=0.2)
IMAGE = SignalInfo("image", d_in=2, d_out=1, centroid=0.3)


def init(model: str, signal=AUDIO, width=256, layers=4, seed=0):
    """The member's weights and omegas, and the parameters the scheme reports using."""
    ensemble, used = build_ensemble([MemberSpec(parse_model(model), seed)],
                                    Architecture(signal.d_in, width, layers, signal.d_out), signal)
    weights = [w[0].detach() for w in ensemble.weights]
    biases = [b[0, 0].detach() for b in ensemble.biases]
    return weights, biases, ensemble.omegas[:, 0, 0, 0].tolist(), used[0]
