"""Signals: the library of named signals (files in the manifest, synthetic ones), readers of audio and image
files, band-limited noise, shapes with exact signed distances, masks of held-out samples, and ``SignalInfo``
(what an init scheme may know of its target)."""
