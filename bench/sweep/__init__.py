"""Sweeps: spec (TOML, validated) -> plan (cells packed into ensembles) -> execute (resumable, one writer)."""
