"""Experiments: spec (TOML, validated) -> plan (cells packed into ensembles) -> execute (resumable, one writer)
-> store (Parquet rows); tuned sweeps choose settings on a tuning split first."""

from bench import learned  # noqa: F401  (registers the learned schemes, which specs may name)
