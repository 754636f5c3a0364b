"""Signal families (bench.learned.families): split by whole source, well formed, and learned from their train
split alone."""

import dataclasses

import numpy as np
import pytest

from bench.core.errors import BenchError, UsageError
from bench.learned.families import family_named, load_families, train_pieces
from bench.tasks.audio import load_clip


@pytest.fixture(scope="module")
def family(library):
    return family_named("audio-windows", library)


def test_the_declared_family_splits_whole_sources(family):
    assert family.kind == "audio" and not set(family.train) & set(family.test)
    assert len(family.pieces("test")) == len(family.test) * len(family.starts)
    with pytest.raises(UsageError, match="train or test"):
        family.pieces("validation")


AUDIO = '[f]\nkind = "audio"\nlength = 64\noffsets = [0]\n'
IMAGE = '[f]\nkind = "image"\nsize = 8\n'
BAD_FAMILIES = [
    (AUDIO + 'train = ["arch", "relay"]\ntest = ["relay"]', "'relay' is in both splits|relay is in both splits"),
    (AUDIO + 'train = ["arch"]\ntest = ["camera"]', "'camera' is not a signal of the manifest of kind audio"),
    (AUDIO + 'train = "arch"\ntest = ["relay"]', "must be lists"),
    (IMAGE + 'corners = [0, 8]\ntrain = ["noise1"]\ntest = ["camera"]', r"\[row, col\] pairs"),
    ('[f]\nkind = "video"\nsize = 8', "kinds: audio, image"),
    ('[f]\nkind = "image"\nsize = 8.5\ncorners = [[0, 0]]\ntrain = ["noise1"]\ntest = ["camera"]',
     "size must be whole numbers >= 0, got 8.5"),
    (IMAGE + 'corners = [[0, -4]]\ntrain = ["noise1"]\ntest = ["camera"]',
     "corners must be whole numbers >= 0, got -4"),
    (IMAGE + 'corners = [[0, 0], [0, 0]]\ntrain = ["noise1"]\ntest = ["camera"]', "corners must be given, each once"),
    (IMAGE + 'corners = [[0, 0]]\ntrain = ["noise1", "noise1"]\ntest = ["camera"]', "listed twice"),
    # a file of one's own may not redefine a project family under its name
    (AUDIO.replace("[f]", "[audio-windows]") + 'train = ["arch"]\ntest = ["relay"]',
     "not the project's family of that name"),
]


@pytest.mark.parametrize("text, message", BAD_FAMILIES)
def test_a_family_that_is_not_well_formed_is_refused_naming_the_problem(tmp_path, library, text, message):
    path = tmp_path / "families.toml"
    path.write_text(text + "\n")
    with pytest.raises(BenchError, match=message):
        load_families(path, library)


def test_learning_reads_the_train_windows_and_nothing_of_the_test_split(family, library):
    coords, pieces = train_pieces(family, library, 1)
    assert pieces.shape == (len(family.train) * len(family.starts), family.size, 1) and coords.shape == (family.size, 1)
    for row, (source, options) in zip(pieces, family.pieces("train")):  # exactly the train windows, in order
        window = load_clip(library, source, family.size, offset=options["offset"])[0]
        np.testing.assert_array_equal(row[:, 0].numpy(), window.astype(np.float32))
    # what learning depends on ignores the test split: another test split learns the same init
    assert family.fingerprint(library) == dataclasses.replace(family, test=("relay",)).fingerprint(library)
    assert family.fingerprint(library) != dataclasses.replace(family, train=family.train[1:]).fingerprint(library)
    leaking = dataclasses.replace(family, test=family.test + (family.train[0],))
    with pytest.raises(UsageError, match="cannot be learned from"):
        train_pieces(leaking, library, 1)


def test_a_family_piece_past_its_source_names_the_family(tmp_path, monkeypatch, library):
    path = tmp_path / "families.toml"
    path.write_text('[far]\nkind = "image"\nsize = 64\ncorners = [[480, 0]]\ntrain = ["noise1"]\ntest = ["camera"]\n')
    monkeypatch.setenv("BENCH_FAMILIES", str(path))
    with pytest.raises(UsageError, match="family 'far', piece of noise1 at crop 64, crop_row 480, crop_col 0: --crop"):
        train_pieces(family_named("far", library), library, 1)
    monkeypatch.setenv("BENCH_FAMILIES", str(tmp_path / "absent.toml"))
    with pytest.raises(BenchError, match="unset \\$BENCH_FAMILIES"):
        family_named("far", library)


def test_a_families_file_of_ones_own_adds_to_the_projects_families(image_family, library):
    from bench.learned.families import load_families

    families = load_families(library=library)
    assert {"crops", "audio-windows", "image-crops"} <= families.keys()
