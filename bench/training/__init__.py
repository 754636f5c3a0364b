"""Training an ensemble: the loop (Adam, StepLR, batches, divergence, timing), the step it repeats (what is
optimized, eager or compiled), the matmul precision and the CPU allocator setting it runs under."""

from bench.training.loop import TRAIN_PARAMS, MemberOutcome, TrainConfig, TrainOutcome, train

__all__ = ["TRAIN_PARAMS", "MemberOutcome", "TrainConfig", "TrainOutcome", "train"]
