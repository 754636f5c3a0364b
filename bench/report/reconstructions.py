"""What the inits fitted: per signal, the target beside each init's fit at its median seed and the error (images:
the fit, a zoomed crop and the error map; clips: spectrograms, and the audio itself as WAV files to listen to),
drawn from the artifacts kept beside the rows (``bench.core.artifacts``; ``bench reconstruct`` makes them)."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from bench.core.artifacts import artifact_path, read_artifact
from bench.core.plotting import headline, pyplot, save_png_and_pdf
from bench.report.sections import Report, pictures, report_section
from bench.report.tables import markdown, natural

IMAGE_COLUMNS = 6  # panels per row of an image figure (the target and up to five fits), then it wraps
ERROR_DECADES = 4  # the error maps' log scale: from the largest error (99th percentile) down this many decades
SPECTROGRAM_COLUMNS = 4
SPECTROGRAM_SAMPLES = 256  # STFT window (Hann) of the spectrograms, hop a quarter of it
SPECTROGRAM_RANGE_DB = 80  # the colour scale: the target's loudest bin and this far below it
TARGET = "target"


def kept(report: Report) -> dict[str, list[dict]]:
    """The artifacts of the report's finished rows, per signal, each init once, in natural order of its label."""
    found: dict[str, list[dict]] = {}
    for key in report.ok["cell_key"].dropna().unique():
        path = artifact_path(report.source, key)
        if path.is_file():
            artifact = read_artifact(path)
            found.setdefault(artifact["signal"], []).append(artifact)
    return {signal: sorted(fits, key=lambda a: natural(a["model_spec"])) for signal, fits in sorted(found.items())}


def slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text)


def _label(artifact: dict) -> str:
    """A panel's title: the scheme, its parameters (wrapped at commas), the row's metric."""
    name, _, params = artifact["model_spec"].partition(":")
    lines = [name, *textwrap.wrap(params.replace(",", ", "), 18)]
    return "\n".join([*lines, f"{artifact['metric']} {float(artifact['stored']):.2f}"])


def _picture(values: np.ndarray, grid: tuple[int, int], low: float, high: float) -> np.ndarray:
    """values [N, C] as an image [H, W] (gray) or [H, W, 3] in [0, 1], ``low`` .. ``high`` stretched to it."""
    image = np.clip((values.reshape(*grid, -1) - low) / max(high - low, 1e-12), 0, 1)
    return image[..., 0] if image.shape[-1] == 1 else image


def image_figure(signal: str, fits: list[dict], out: Path) -> str:
    """The target and each init's fit (top), their central crop of half the side, enlarged (middle), and
    |fit - target| averaged over the channels, as a fraction of the target's range, on one log scale
    (bottom). Every picture of a signal maps the target's range to black .. white (a faint target, e.g.
    low-amplitude noise, shows)."""
    from matplotlib.colors import LogNorm

    plt, _ = pyplot()
    grid = tuple(int(n) for n in fits[0]["grid"])
    height, width = grid
    top, left = height // 4, width // 4
    crop = (slice(top, top + height // 2), slice(left, left + width // 2))
    reference = fits[0]["reference"]
    low, high = float(reference.min()), float(reference.max())
    errors = [np.abs(a["output"] - a["reference"]).mean(axis=1).reshape(grid) / max(high - low, 1e-12) for a in fits]
    largest = max(float(np.percentile(np.concatenate([e.ravel() for e in errors]), 99)), 1e-12)
    norm = LogNorm(vmin=largest / 10 ** ERROR_DECADES, vmax=largest, clip=True)
    panels = [(TARGET, _picture(reference, grid, low, high), None)]
    panels += [(_label(a), _picture(a["output"], grid, low, high), e) for a, e in zip(fits, errors)]
    columns = min(len(panels), IMAGE_COLUMNS)
    blocks = math.ceil(len(panels) / columns)
    fig, axes = plt.subplots(3 * blocks, columns, figsize=(1.5 * columns + 0.8, 1.75 * 3 * blocks), squeeze=False,
                             layout="constrained")
    for ax in axes.flat:
        ax.set_axis_off()
    for i, (label, picture, error) in enumerate(panels):
        block, column = divmod(i, columns)
        fit_ax, crop_ax, error_ax = axes[3 * block:3 * block + 3, column]
        gray = {"cmap": "gray", "vmin": 0, "vmax": 1} if picture.ndim == 2 else {}
        fit_ax.imshow(picture, interpolation="nearest", **gray)
        fit_ax.set_title(label, fontsize=7)
        crop_ax.imshow(picture[crop], interpolation="nearest", **gray)
        if error is not None:
            shown = error_ax.imshow(np.maximum(error, norm.vmin), cmap="magma", norm=norm, interpolation="nearest")
        else:
            fit_ax.add_patch(plt.Rectangle((left - 0.5, top - 0.5), width // 2, height // 2, fill=False,
                                           edgecolor="tab:orange", linewidth=1))
            crop_ax.set_title("crop (box above)", fontsize=7)
    colour_bar = fig.colorbar(shown, ax=axes.ravel().tolist(), shrink=0.5, aspect=30)
    colour_bar.set_label("|fit - target| / target's range (log)", fontsize=7)
    colour_bar.ax.tick_params(labelsize=6)
    headline(fig, f"{signal}: each init's fit at its median seed, a crop, the error", fontsize=9)
    return save_png_and_pdf(fig, out, f"reconstruction_{slug(signal)}")[0]


def spectrogram_db(values: np.ndarray, rate: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frequencies [F] (Hz), times [T] (s) and power [F, T] in dB (power spectrum) of a clip's first channel."""
    from scipy import signal as scipy_signal

    window = min(SPECTROGRAM_SAMPLES, len(values))
    freqs, times, power = scipy_signal.spectrogram(values[:, 0].astype(np.float64), fs=rate, window="hann",
                                                   nperseg=window, noverlap=window - window // 4,
                                                   scaling="spectrum")
    return freqs, times, 10 * np.log10(power + 1e-20)


def audio_figure(signal: str, fits: list[dict], out: Path) -> str:
    """Spectrograms of the target and of each init's fit on the target's colour scale."""
    plt, _ = pyplot()
    rate = float(fits[0]["sample_rate"])
    panels = [(TARGET, fits[0]["reference"])] + [(_label(a), a["output"]) for a in fits]
    spectra = [(label, *spectrogram_db(values, rate)) for label, values in panels]
    top = float(spectra[0][3].max())  # 0 dB: the target's loudest bin
    columns = min(len(panels), SPECTROGRAM_COLUMNS)
    rows = math.ceil(len(panels) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.6 * columns, 2.3 * rows), squeeze=False, sharex=True,
                             sharey=True, layout="constrained")
    for ax in axes.flat[len(panels):]:
        ax.set_axis_off()
    for ax, (label, freqs, times, power) in zip(axes.flat, spectra):
        shown = ax.pcolormesh(times * 1e3, freqs / 1e3, power - top, vmin=-SPECTROGRAM_RANGE_DB, vmax=0,
                              cmap="magma", shading="auto", rasterized=True)  # a PDF of thousands of cells: MBs
        ax.set_title(label, fontsize=7)
        ax.tick_params(labelsize=6)
    for ax in axes[:, 0]:
        ax.set_ylabel("kHz", fontsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("ms", fontsize=7)
    colour_bar = fig.colorbar(shown, ax=axes.ravel().tolist(), shrink=0.8)
    colour_bar.set_label("dB, 0 = the target's loudest", fontsize=7)
    colour_bar.ax.tick_params(labelsize=6)
    headline(fig, f"{signal}: spectrograms of the target and each init's fit (median seed)", fontsize=9)
    return save_png_and_pdf(fig, out, f"reconstruction_{slug(signal)}")[0]


def write_wav(path: Path, values: np.ndarray, rate: float, gain: float) -> None:
    """A clip [N, 1] times ``gain`` as 16-bit PCM (what every browser plays), clipped to [-1, 1]."""
    from scipy.io import wavfile

    path.parent.mkdir(parents=True, exist_ok=True)
    wavfile.write(path, int(round(rate)), (np.clip(values[:, 0] * gain, -1, 1) * 32767).round().astype(np.int16))


def listening_table(found: dict[str, list[dict]], out: Path) -> list[str]:
    """WAV files of each clip's target and fits under out/reconstructions/<signal>/, all of one clip at the gain
    that brings its target's peak to full scale (an excerpt may be quiet), and a table linking them (one row
    per init, one column per clip)."""
    cells: dict[str, dict[str, str]] = {}
    for signal, fits in found.items():
        rate, target = float(fits[0]["sample_rate"]), fits[0]["reference"]
        gain = 1.0 / max(float(np.abs(target).max()), 1e-6)
        for name, values in [(TARGET, target)] + [(a["model_spec"], a["output"]) for a in fits]:
            relative = f"reconstructions/{slug(signal)}/{slug(name)}.wav"
            write_wav(out / relative, values, rate, gain)
            cells.setdefault(name, {})[signal] = f"[{name}]({relative})"
    order = [TARGET] + sorted((name for name in cells if name != TARGET), key=natural)
    table = pd.DataFrame([cells[name] for name in order], index=order).reindex(columns=list(found)).fillna("")
    table.index.name = "init"
    return [markdown(table), ""]


@report_section(order=25)
def reconstructions(report: Report) -> list[str]:
    found = kept(report)
    if not found:
        return []
    audio = {s: f for s, f in found.items() if len(f[0]["grid"]) == 1}
    pngs = [audio_figure(s, f, report.out) if s in audio else image_figure(s, f, report.out) for s, f in found.items()]
    largest = max(abs(float(a["rerun"]) - float(a["stored"])) for fits in found.values() for a in fits)
    agreement = ("each rerun gives its row's metric exactly" if largest == 0 else
                 f"the reruns' metric differs from the rows' by at most {largest:.2g}")
    lines = ["## Reconstructions", "",
             "What each init fitted at its median seed by the table metric, trained again from its cell with `bench "
             f"reconstruct` ({agreement}). Images: the fit, its central crop enlarged and the error; clips: "
             "spectrograms.", "", *pictures(pngs)]
    if audio:
        lines += ["Listen (16-bit WAV; the target and the fits of a clip share one gain, which brings the target's "
                  "peak to full scale):", "", *listening_table(audio, report.out)]
    return lines
