"""Shared fixtures: real signals from the manifest (found via $BENCH_DATA, else downloaded and verified).

Without the data files and without network, a test that needs a signal is reported as skipped with one
reason instead of failing; with BENCH_REQUIRE_DATA=1 (CI) every signal must be there and nothing skips.
"""

from __future__ import annotations

import os
import re

import pytest
import torch

import bench.learned  # noqa: F401  (the learned schemes, registered as in every command)
from bench.core.errors import BenchError
from bench.learned.families import family_named
from bench.signals.library import SignalLibrary
from bench.tasks import load_builtin_tasks, load_task


def _pointed_at_a_temporary_path(tmp_path_factory, variable: str, folder: str, file: str = ""):
    """Set ``variable`` to a new temporary folder (or ``file`` in it) for the whole session; yields the path."""
    path = tmp_path_factory.mktemp(folder) / file
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(variable, str(path))
        yield path


@pytest.fixture(scope="session", autouse=True)
def _members_cache(tmp_path_factory):
    """Ensemble sizes measured during the tests go to a temporary cache, not the user's."""
    yield from _pointed_at_a_temporary_path(tmp_path_factory, "BENCH_MEMBERS_CACHE", "cache", "members-per-ensemble.json")


@pytest.fixture(scope="session", autouse=True)
def _compile_cache(tmp_path_factory):
    """Steps torch.compile compiles during the tests go to a temporary folder, not the user's cache."""
    yield from _pointed_at_a_temporary_path(tmp_path_factory, "TORCHINDUCTOR_CACHE_DIR", "torch-compile")


@pytest.fixture(scope="session", autouse=True)
def _learned_cache(tmp_path_factory):
    """Inits learned during the tests (bench.learned.meta_learned) go to a temporary folder, not the user's cache."""
    yield from _pointed_at_a_temporary_path(tmp_path_factory, "BENCH_LEARNED_CACHE", "learned")


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
def need(library):
    """``need("arch", "camera")``: skip the test, with one reason, when one of these manifest signals cannot be
    had (no local copy, no network); for tests whose failure would not show our message (subprocesses)."""
    def check(*names: str) -> None:
        for name in names:
            try:
                library.path(name, library.entries[name].kind)
            except BenchError as exc:
                if MISSING_SIGNAL not in str(exc) or REQUIRE_DATA:
                    raise
                pytest.skip(f"needs the signal data (missing here, no network): {name}; set BENCH_DATA")
    return check


@pytest.fixture(scope="session")
def relay_2k(library):
    """The first 2,048 samples of relay.wav (stereo, mixed down): a strong-high-frequency clip."""
    return load_task("audio:relay", library, {"max_samples": 2048})


@pytest.fixture(scope="session")
def camera_32(library):
    """cameraman resized to 32 x 32."""
    return load_task("image:camera", library, {"side": 32})


@pytest.fixture
def image_family(tmp_path, monkeypatch, library):
    """A families file of one's own ($BENCH_FAMILIES): 16 x 16 crops learned from noise1 and braided, judged
    on camera."""
    path = tmp_path / "families.toml"
    path.write_text('[crops]\nkind = "image"\nsize = 16\ncorners = [[0, 0], [100, 50]]\n'
                    'train = ["noise1", "braided"]\ntest = ["camera"]\n')
    monkeypatch.setenv("BENCH_FAMILIES", str(path))
    return family_named("crops", library)


@pytest.fixture(autouse=True)
def _single_thread_determinism():
    torch.manual_seed(0)


MISSING_SIGNAL = "not found locally and the download failed"  # bench.signals.library's message for an absent signal
REQUIRE_DATA = os.environ.get("BENCH_REQUIRE_DATA") == "1"


def pytest_sessionstart(session):
    if REQUIRE_DATA:
        library = SignalLibrary()
        # the audio clips and images CI keeps offline; those marked fetch_on_first_use (the meshes, scikit-image's
        # images) no test reads: the tests fit shapes made in code and families declared from the offline images
        missing = [entry.file for entry in library.entries.values()
                   if not entry.details.get("fetch_on_first_use") and library.local_path(entry) is None]
        if missing:
            pytest.exit(f"BENCH_REQUIRE_DATA=1 but {len(missing)} manifest files are not in $BENCH_DATA or the cache "
                        f"(e.g. {missing[0]}); set BENCH_DATA to the datasets folder", returncode=1)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A test that failed only because a signal could not be had (in an exception, or in the one-line error
    the CLI printed) is a skip with that reason, not a failure with a download traceback."""
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_DATA or not report.failed or call.excinfo is None:
        return
    text = f"{call.excinfo.value}\n{report.capstderr}\n{report.capstdout}"
    if MISSING_SIGNAL in text:
        found = re.search(rf"([\w.+-]+): {MISSING_SIGNAL}", text)
        signal = found.group(1) if found else "a signal"
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.location[1] or 0,
                           f"Skipped: needs the signal data (missing here, no network): {signal}; set BENCH_DATA")


@pytest.fixture(scope="session")
def tuned(tmp_path_factory, library, need):
    """A finished tuned sweep of ``TUNED_SPEC`` (its folder) and the spec, shared by the tests that read it."""
    from bench.cli import main
    from bench.experiment.spec import parse_spec
    from tests.helpers import TUNED_SPEC

    need("arch", "vivaldi_gt")
    out = tmp_path_factory.mktemp("tuned")
    (out / "spec.toml").write_text(TUNED_SPEC)
    assert main(["sweep", str(out / "spec.toml"), "--out", str(out / "run"), "--device", "cpu", "--no-progress",
                 "--max-members", "8"]) == 0
    return out / "run", parse_spec(TUNED_SPEC, "spec.toml", library)


@pytest.fixture
def one_thread():
    """torch on one thread for the test, restored after it: small tensors gain nothing from a second thread, which
    only adds waiting (tenfold, on a busy machine). A module takes it with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
