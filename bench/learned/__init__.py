"""Learned inits: signal families (train and test splits of many signals of one kind), the pre-training that
learns starting weights from a family's train split (meta-learning, STRAINER's shared encoder), and the cache
of what was learned. Its schemes register with ``bench.models`` when this package is imported (the experiment
layer does)."""

from bench.learned import meta_learned, strainer  # noqa: F401  (registers the learned schemes)
