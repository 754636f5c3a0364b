"""synthetic:band(...): noise whose spectral centroid (docs/methods.md) is the one asked for, as trained."""

import numpy as np
import pytest

from bench.core.errors import UsageError
from bench.signals.library import SignalLibrary
from bench.tasks import load_task


@pytest.mark.parametrize("length", [1024, 16384, 150000])
@pytest.mark.parametrize("centroid, floor", [(0.1, 0.0), (0.2, 0.5), (0.45, 0.1), (0.63, 0.0), (0.9, 0.0)])
def test_a_clip_has_the_requested_centroid_within_two_percent(length, centroid, floor):
    task = load_task(f"audio:synthetic:band(centroid={centroid},floor={floor})", SignalLibrary(),
                     {"max_samples": length})
    assert task.size == length and task.info.centroid == pytest.approx(centroid, rel=0.02)
    assert float(task.target.abs().max()) == pytest.approx(1.0)  # divided by its peak like any clip


@pytest.mark.parametrize("side", [32, 64, 256])
@pytest.mark.parametrize("centroid, floor", [(0.2, 0.0), (0.3, 0.3), (0.55, 0.0)])
def test_an_image_has_the_requested_centroid_within_two_percent(side, centroid, floor):
    task = load_task(f"image:synthetic:band(centroid={centroid},floor={floor})", SignalLibrary(), {"side": side})
    assert task.grid == (side, side) and task.info.centroid == pytest.approx(centroid, rel=0.02)
    assert float(task.target.min()) == -1.0 and float(task.target.max()) == 1.0


def smoothed_magnitude(name: str, length: int = 16384):
    """Frequencies (1 = Nyquist) and the square root of Welch's power spectrum of a band clip: its magnitude
    spectrum with the crop's leakage and the random phases averaged out."""
    from scipy.signal import welch

    task = load_task(f"audio:synthetic:{name}", SignalLibrary(), {"max_samples": length})
    frequencies, power = welch(task.target[:, 0].double().numpy(), nperseg=1024)
    return frequencies * 2, np.sqrt(power)


def test_the_floor_sets_the_lows_and_the_band_its_width():
    for name, floor in (("band(centroid=0.6)", 0.0), ("band(centroid=0.45,floor=0.25)", 0.25)):
        frequencies, magnitude = smoothed_magnitude(name)
        peak = frequencies[magnitude.argmax()]
        lows = (frequencies > 0.05) & (frequencies < peak - 0.15)  # below the band (half-support 0.1), off DC
        assert magnitude[lows].mean() == pytest.approx(floor * magnitude.max(), abs=0.03 * magnitude.max())
        if floor == 0:
            half_max = frequencies[magnitude >= magnitude.max() / 2]
            assert half_max.max() - half_max.min() == pytest.approx(0.1, abs=0.015)  # the FWHM, from Welch.s estimate


def test_one_signal_per_spelling_and_a_new_one_per_seed():
    library = SignalLibrary()
    names = ["synthetic:band(centroid=0.3)", "synthetic:band( centroid=0.30, floor=0 )",
             "synthetic:band(seed=0,bandwidth=0.1,centroid=0.3)"]
    assert {library.canonical(n, "audio") for n in names} == {"synthetic:band(centroid=0.3,bandwidth=0.1,floor=0,seed=0)"}
    assert len({library.fingerprint(n, "audio") for n in names}) == 1
    first, again = (load_task(f"audio:synthetic:{n}", library, {"max_samples": 2048}).target
                    for n in ("band(centroid=0.3)", "band( centroid=0.3 )"))
    assert np.array_equal(first.numpy(), again.numpy())
    task = load_task("audio:synthetic:band(centroid=0.3,seed=1)", library, {"max_samples": 2048})
    assert not np.array_equal(task.target.numpy(), load_task("audio:synthetic:band(centroid=0.3)", library,
                                                             {"max_samples": 2048}).target.numpy())


def test_every_seed_is_its_own_signal_and_a_clip_is_not_periodic_over_its_domain():
    library = SignalLibrary()
    assert library.canonical("synthetic:band(centroid=0.1234567,seed=1234567)", "audio") == \
        "synthetic:band(centroid=0.1234567,bandwidth=0.1,floor=0,seed=1234567)"
    one, other = (load_task(f"audio:synthetic:band(centroid=0.3,seed={seed})", library, {"max_samples": 1024})
                  for seed in (1234567, 1234568))
    assert not np.array_equal(one.target.numpy(), other.target.numpy())
    # cut from a longer inverse DFT: not periodic over the domain, so its DFT is not the designed band alone
    # but leaks around it
    clip = load_task("audio:synthetic:band(centroid=0.3)", library, {"max_samples": 4096}).target[:, 0].double()
    spectrum = np.abs(np.fft.rfft(clip.numpy()))
    frequencies = np.fft.rfftfreq(4096) * 2
    assert spectrum[frequencies < 0.05].max() > 1e-3 * spectrum.max()


@pytest.mark.parametrize("name, options, message", [
    ("band(centroid=0.3)", {"max_samples": 4}, "cannot be placed for a 4-sample clip"),
    ("band(centroid=0.3,bandwidth=1e-12)", {"max_samples": 1024}, r"bandwidth 1e-12 .*use bandwidth >= 0.000977"),
    ("band(centroid=0.3)", {"max_samples": 2**25}, "33,554,432 values is over the 16,777,216"),
])
def test_a_clip_too_short_or_too_long_for_its_band_is_refused(name, options, message):
    with pytest.raises(UsageError, match=message):
        load_task(f"audio:synthetic:{name}", SignalLibrary(), options)


def test_an_image_too_small_for_its_band_is_refused():
    with pytest.raises(UsageError, match="cannot be placed|out of reach"):
        load_task("image:synthetic:band(centroid=0.3)", SignalLibrary(), {"side": 2})


@pytest.mark.parametrize("name, message", [
    ("band(centroid=0.3,centroid=0.5)", "centroid is given twice"),
    ("band(centroid=0.3,seed=inf)", "seed='inf' is not a finite number"),
    ("band(centroid=0.3,seed=1e30)", "seed='1e30' is not an integer from 0 to"),
    ("band(centroid=1.5)", "centroid must lie in (0, 1)"),
    ("band(bandwidth=0.2)", "give centroid=C"),
    ("band(centroid=0.3,width=2)", "'width=2' is not KEY=VALUE"),
    ("band(centroid=abc)", "centroid='abc' is not a number"),
    ("band(centroid=0.3,seed=1.5)", "seed='1.5' is not an integer"),
    ("band(centroid=0.85,floor=0.3)", "centroid 0.85 is out of reach"),
])
def test_a_bad_band_is_one_usage_error(name, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_task(f"audio:synthetic:{name}", SignalLibrary(), {"max_samples": 1024})
