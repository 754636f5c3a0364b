"""Shared fixtures: real signals from the manifest (found via $BENCH_DATA, else downloaded and verified)."""

from __future__ import annotations

import pytest
import torch

from bench.signals import SignalLibrary
from bench.tasks import load_builtin_tasks, load_task


@pytest.fixture(scope="session", autouse=True)
def _members_cache(tmp_path_factory):
    """Ensemble sizes measured during the tests go to a temporary cache, not the user's."""
    path = tmp_path_factory.mktemp("cache") / "members-per-ensemble.json"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BENCH_MEMBERS_CACHE", str(path))
        yield path


@pytest.fixture(autouse=True)
def _registries_as_before():
    """Models and tasks a test registers (plugins) are gone after it: no test sees another's."""
    from bench import models

    registries = (models.load_builtin_models(), load_builtin_tasks())
    saved = [dict(registry._entries) for registry in registries]
    plugins = list(models._plugins)
    yield
    for registry, entries in zip(registries, saved):
        registry._entries.clear()
        registry._entries.update(entries)
    models._plugins[:] = plugins


@pytest.fixture(scope="session")
def library() -> SignalLibrary:
    return SignalLibrary()


@pytest.fixture(scope="session")
def relay_2k(library):
    """The first 2,048 samples of relay.wav (stereo, mixed down): a strong-high-frequency clip."""
    return load_task("audio:relay", library, {"max_samples": 2048})


@pytest.fixture(scope="session")
def camera_32(library):
    """cameraman resized to 32 x 32."""
    return load_task("image:camera", library, {"side": 32})


@pytest.fixture(autouse=True)
def _single_thread_determinism():
    torch.manual_seed(0)
