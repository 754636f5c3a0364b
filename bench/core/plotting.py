"""The one plotting setup of every figure bench writes: matplotlib without a display, seaborn's theme, and
files written without dates or software versions, so that a figure rebuilt from the same data is the same
file (reports diff cleanly in git). The layout every figure shares: panels that wrap (``PANELS_PER_ROW``),
titles and labels wrapped to them, a headline above them; and the check each saved figure passes
(``layout_problems``: no text over text, no legend over a panel, no width over ``MAX_WIDTH_PX``), which
warns with ``LayoutWarning`` (an error in the test suite)."""

from __future__ import annotations

import textwrap
import warnings
from pathlib import Path

import numpy as np

DPI = 110
MAX_WIDTH_PX = 2500  # a figure wider than this does not read on a page or a screen: facets wrap instead
PANELS_PER_ROW = 4  # facets wrap after this many, so no figure grows wider with the signals
PANEL_WIDTH = 3.4  # inches: PANELS_PER_ROW of them and a legend fit MAX_WIDTH_PX at DPI
METADATA = {".png": {"Software": None}, ".pdf": {"CreationDate": None, "Producer": None, "Creator": None}}


class LayoutWarning(UserWarning):
    """A figure that will not read at a glance: text over text, a legend over a panel, or too wide."""


def pyplot():
    """matplotlib.pyplot (Agg backend) and seaborn, themed; imported on first use (they take a second)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper")
    # seaborn lays a grid out before bench sizes it (room_for_labels); save_figure judges the final layout
    warnings.filterwarnings("ignore", message="Tight layout not applied", category=UserWarning)
    if "text.parse_math" in matplotlib.rcParams:  # labels are names (a file "m$x^2$.wav"), never TeX math
        matplotlib.rcParams["text.parse_math"] = False
    return plt, sns


def tidy_panels(grid, template: str = "{col_name}") -> None:
    """Title each panel of a seaborn grid from ``template``, the titles and a long y label wrapped to the
    panel (a long setting name would run into the next panel's title, a long label past the panel's top),
    and lay the grid out again for them."""
    grid.set_titles(template)
    for ax in grid.axes.flat:
        lines = ax.get_title().split("\n")
        ax.set_title("\n".join(textwrap.fill(line, width=int(PANEL_WIDTH * 11)) for line in lines), fontsize=9)
        tall = ax.get_position().height * ax.figure.get_figheight()  # inches; about 9 characters an inch
        ax.set_ylabel(textwrap.fill(ax.get_ylabel(), width=max(12, int(tall * 9))))
    grid.tight_layout()


def headline(fig, text: str, **options) -> None:
    """The title of a whole figure, above everything in it (a figure title placed inside runs into the
    panel titles of one row's grids); the saved file's tight box takes it in."""
    fig.suptitle(text, y=1.0, va="bottom", **options)


def room_for_labels(grid, labels) -> None:
    """Widen a seaborn grid whose panels name their bars beside them by the width of the longest of
    ``labels`` (matplotlib would take it from the panels), then lay it out."""
    width, height = grid.figure.get_size_inches()
    grid.figure.set_size_inches(width + 0.07 * max(map(len, labels), default=0), height)
    grid.figure.tight_layout()


def axes_of(ax) -> tuple:
    """The axes (x, y, and z on 3-d axes) of a panel."""
    return (ax.xaxis, ax.yaxis, *([ax.zaxis] if hasattr(ax, "zaxis") else []))


def plain_log_labels(fig) -> None:
    """Label log-scaled axes "1e-03" rather than in TeX math, which ``pyplot`` turns off (a label's "$" is
    a character): matplotlib's default log labels are math, and would print as their source. Minor ticks go
    unlabelled (their labels crowd a narrow panel); an axis spanning under 1.5 decades, with one power of 10
    in view or none, gets 1-2-5 ticks ("0.02", "0.05"), or if fewer than two are in view four evenly spaced
    on the log scale, to two digits."""
    from matplotlib.ticker import FixedLocator, LogFormatter, LogFormatterSciNotation, NullFormatter, StrMethodFormatter

    for ax in fig.axes:
        for axis in axes_of(ax):
            if axis.get_scale() != "log" or type(axis.get_major_formatter()) is not LogFormatterSciNotation:
                continue  # linear, or labelled by the figure's own code
            low, high = sorted(axis.get_view_interval())
            if low > 0 and np.log10(high) - np.log10(low) < 1.5:
                decades = 10.0 ** np.arange(np.floor(np.log10(low)), np.ceil(np.log10(high)) + 1)
                ticks = [tick for tick in np.outer(decades, [1.0, 2.0, 5.0]).ravel() if low <= tick <= high]
                if len(ticks) < 2:  # no 1-2-5 pair in view: log-evenly spaced, to two digits
                    ticks = sorted({float(f"{tick:.2g}") for tick in np.geomspace(low, high, 6)[1:-1]})
                axis.set_major_locator(FixedLocator(ticks))
                axis.set_major_formatter(StrMethodFormatter("{x:.2g}"))
            else:
                axis.set_major_formatter(LogFormatter())
            axis.set_minor_formatter(NullFormatter())


def tick_labels(axis, shown: bool = True) -> list:
    """The tick labels of ``axis`` (major and minor): with ``shown``, those its last draw put on the page,
    non-empty and within its view (matplotlib keeps labels of ticks outside it, undrawn); else all."""
    low, high = sorted(axis.get_view_interval())
    span = (high - low) * 1e-9
    labels = []
    for tick in axis.get_major_ticks() + axis.get_minor_ticks():
        if not shown or low - span <= tick.get_loc() <= high + span:
            labels += [label for label in (tick.label1, tick.label2) if not shown or label.get_visible()]
    return [label for label in labels if not shown or label.get_text().strip()]


def drawn_texts(fig) -> list:
    """The non-empty texts of ``fig`` that its last draw put on the page (tick labels: ``tick_labels``)."""
    from matplotlib.text import Text

    axes = [axis for ax in fig.axes for axis in axes_of(ax)]
    ticks = {id(label) for axis in axes for label in tick_labels(axis, shown=False)}
    others = [text for text in fig.findobj(Text) if id(text) not in ticks and text.get_visible()]
    drawn = [axis for ax in fig.axes if ax.axison and ax.get_visible() for axis in axes_of(ax)]  # axes off: no ticks
    shown = [label for axis in drawn for label in tick_labels(axis)]
    return [text for text in shown + others if text.get_text().strip() and text.get_alpha() != 0]


def corners(text, renderer) -> np.ndarray:
    """The four corners (pixels) of ``text``'s own box, less half a pixel each side: a slanted text's box is
    a slanted rectangle, centred where the upright box around it is, its size that of the text unturned."""
    box = text.get_window_extent(renderer)
    angle = text.get_rotation()
    text.set_rotation(0)
    upright = text.get_window_extent(renderer)
    text.set_rotation(angle)
    half = np.array([max(upright.width / 2 - 0.5, 0.0), max(upright.height / 2 - 0.5, 0.0)])
    turn = np.deg2rad(angle)
    rotate = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    signs = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]])
    return np.array([box.x0 + box.x1, box.y0 + box.y1]) / 2 + (signs * half) @ rotate.T


def slanted_apart(first: np.ndarray, second: np.ndarray) -> bool:
    """Whether two rectangles (their corners) lie apart: a line along an edge of one separates them."""
    for rect in (first, second):
        for edge in (rect[1] - rect[0], rect[3] - rect[0]):
            normal = np.array([-edge[1], edge[0]])
            a, b = first @ normal, second @ normal
            if a.max() <= b.min() or b.max() <= a.min():
                return True
    return False


def overlapping(texts: list, renderer) -> list[tuple[int, int]]:
    """Index pairs (i < j) of ``texts`` whose boxes, less half a pixel each side, overlap; a slanted text's
    box is its own slanted rectangle (``corners``), not the upright one around it."""
    boxes = np.array([text.get_window_extent(renderer).extents for text in texts]).reshape(-1, 4)
    boxes += [0.5, 0.5, -0.5, -0.5]
    apart = ((boxes[:, None, 2] <= boxes[None, :, 0]) | (boxes[None, :, 2] <= boxes[:, None, 0])
             | (boxes[:, None, 3] <= boxes[None, :, 1]) | (boxes[None, :, 3] <= boxes[:, None, 1]))
    pairs = [(int(i), int(j)) for i, j in zip(*np.nonzero(np.triu(~apart, k=1)))]
    slanted = {i for pair in pairs for i in pair if texts[i].get_rotation() % 90}
    if not slanted:
        return pairs
    return [(i, j) for i, j in pairs if not ({i, j} & slanted
                                             and slanted_apart(corners(texts[i], renderer), corners(texts[j], renderer)))]


def thin_crowded_ticks(fig, passes: int = 3) -> bool:
    """Give every numeric axis of ``fig``, as last drawn, whose tick labels overlap every other tick (a narrow
    panel fits fewer labels than matplotlib guesses), drawing again to check, up to ``passes`` times; named
    ticks (categories) are left. Returns whether any axis changed (the figure then needs saving again)."""
    from matplotlib.category import StrCategoryFormatter
    from matplotlib.ticker import FixedFormatter, FixedLocator

    changed = False
    for _ in range(passes):
        renderer = fig.canvas.get_renderer()
        crowded = [axis for ax in fig.axes for axis in axes_of(ax)
                   if not isinstance(axis.get_major_formatter(), (FixedFormatter, StrCategoryFormatter))
                   and len(tick_labels(axis)) > 2 and overlapping(tick_labels(axis), renderer)]
        if not crowded:
            break
        for axis in crowded:
            low, high = sorted(axis.get_view_interval())
            kept = [loc for loc in axis.get_majorticklocs() if low <= loc <= high][::2]
            axis.set_major_locator(FixedLocator(kept))
        changed = True
        fig.canvas.draw()
    return changed


def layout_problems(fig) -> list[str]:
    """What keeps ``fig``, as last drawn, from reading at a glance: texts that overlap (their bounding boxes,
    less half a pixel), a legend over a panel, a width over ``MAX_WIDTH_PX`` at ``DPI``."""
    renderer = fig.canvas.get_renderer()
    problems = []
    width = fig.get_tightbbox(renderer).width * DPI
    if width > MAX_WIDTH_PX:
        problems.append(f"{width:.0f} px wide (at most {MAX_WIDTH_PX})")
    texts = drawn_texts(fig)
    for i, j in overlapping(texts, renderer):
        problems.append(f"text {texts[i].get_text()!r} overlaps {texts[j].get_text()!r}")
    panels = [ax.get_window_extent(renderer) for ax in fig.axes if ax.get_visible() and ax.axison]
    for legend in [*fig.legends, *(ax.get_legend() for ax in fig.axes)]:
        if legend is not None and legend.get_visible():
            box = legend.get_window_extent(renderer)
            if any(box.overlaps(panel) for panel in panels):
                problems.append("a legend lies over a panel")
    return problems


def save_figure(fig, *paths: str | Path) -> None:
    """Write ``fig`` to each path (the format from its suffix), then close it; warns (``LayoutWarning``)
    of what keeps it from reading (``layout_problems``)."""
    import matplotlib.pyplot as plt

    plain_log_labels(fig)
    for i, path in enumerate(paths):
        options = {"dpi": DPI, "metadata": METADATA.get(Path(path).suffix.lower()), "bbox_inches": "tight"}
        fig.savefig(path, **options)
        if i == 0:  # drawn now: the texts sit where the file shows them (no draw of its own: drawing is slow)
            if thin_crowded_ticks(fig):
                fig.savefig(path, **options)
            problems = layout_problems(fig)
            if problems:
                shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
                warnings.warn(f"figure {Path(path).name}: {shown}", LayoutWarning, stacklevel=2)
    plt.close(fig)


def save_png_and_pdf(fig, out: Path, name: str) -> list[str]:
    """Write ``fig`` as out/name.png and .pdf and close it; returns the two file names."""
    files = [f"{name}.png", f"{name}.pdf"]
    save_figure(fig, *(out / file for file in files))
    return files
