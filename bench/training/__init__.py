"""Training an ensemble: the loop (Adam, StepLR, batches, divergence, timing), the step it repeats (what is
optimized, eager or compiled), the matmul precision and the CPU allocator setting it runs under, and the
problem (task, model, network, settings) that speed measurements are made for; the training settings are
declared once, in ``bench.training.config``."""

from bench.training.config import TRAIN_PARAMS, TrainConfig
from bench.training.loop import MemberOutcome, TrainOutcome, train
from bench.training.problem import Problem

__all__ = ["TRAIN_PARAMS", "MemberOutcome", "Problem", "TrainConfig", "TrainOutcome", "train"]
