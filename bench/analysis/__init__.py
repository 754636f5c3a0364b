"""Analysis of networks at init: empirical NTK spectra and spectral energy, per-layer activation statistics."""
