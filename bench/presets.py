"""Named training protocols (../shared/docs/methods.md); explicit command-line flags override them."""

from __future__ import annotations

from typing import Any

PRESETS: dict[str, dict[str, Any]] = {
    # SIREN² paper, audio: first 150,000 samples, 4 x 222, Adam 1e-4, StepLR(20, 0.99), 1000 full-batch steps
    "siren2-paper-audio": {"task": "audio:synthetic:hf_noise", "max_samples": 150_000, "width": 222, "layers": 4,
                           "lr": 1e-4, "lr_step": 20, "lr_gamma": 0.99, "steps": 1000, "batch_size": None},
    # SIREN² paper, images: 5 x 256, Adam 1e-4, StepLR(20, 0.998), 4000 full-batch steps
    "siren2-paper-image": {"task": "image:synthetic:hf_noise", "width": 256, "layers": 5,
                           "lr": 1e-4, "lr_step": 20, "lr_gamma": 0.998, "steps": 4000, "batch_size": None},
}

# What `bench run` does with no flags: the three main inits on an offline high-frequency signal.
DEFAULTS: dict[str, Any] = {
    "models": ["siren", "siren2", "winner"], "task": "audio:synthetic:hf_noise", "width": 64, "layers": 4,
    "steps": 300, "lr": 1e-4, "lr_step": None, "lr_gamma": 1.0, "batch_size": None, "eval_every": 100,
    "seeds": "0-1", "out": "runs/default",
}
