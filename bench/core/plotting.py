"""The one plotting setup of every figure bench writes: matplotlib without a display, seaborn's theme, and
files written without dates or software versions, so that a figure rebuilt from the same data is the same
file (reports diff cleanly in git)."""

from __future__ import annotations

from pathlib import Path

DPI = 110
METADATA = {".png": {"Software": None}, ".pdf": {"CreationDate": None, "Producer": None, "Creator": None}}


def pyplot():
    """matplotlib.pyplot (Agg backend) and seaborn, themed; imported on first use (they take a second)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper")
    if "text.parse_math" in matplotlib.rcParams:  # labels are names (a file "m$x^2$.wav"), never TeX math
        matplotlib.rcParams["text.parse_math"] = False
    return plt, sns


def save_figure(fig, *paths: str | Path) -> None:
    """Write ``fig`` to each path (the format from its suffix), then close it."""
    import matplotlib.pyplot as plt

    for path in paths:
        fig.savefig(path, dpi=DPI, metadata=METADATA.get(Path(path).suffix.lower()), bbox_inches="tight")
    plt.close(fig)


def save_png_and_pdf(fig, out: Path, name: str) -> list[str]:
    """Write ``fig`` as out/name.png and .pdf and close it; returns the two file names."""
    files = [f"{name}.png", f"{name}.pdf"]
    save_figure(fig, *(out / file for file in files))
    return files
