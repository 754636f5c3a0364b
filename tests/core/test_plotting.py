"""The layout check every saved figure passes through (bench.core.plotting): overlapping texts, a legend over
a panel, a figure too wide, log axes labelled in plain text."""

import warnings

import pytest

from bench.core.plotting import (DPI, MAX_WIDTH_PX, LayoutWarning, layout_problems, pyplot, save_figure,
                                 save_png_and_pdf)


def drawn(fig):
    fig.canvas.draw()
    return fig


def test_a_clean_figure_has_no_problems():
    plt, _ = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot([0, 1], [0, 1], label="line")
    ax.set(title="a title", xlabel="x", ylabel="y")
    ax.legend(loc="upper left", bbox_to_anchor=(1, 1))
    assert layout_problems(drawn(fig)) == []
    plt.close(fig)


def test_overlapping_texts_a_legend_over_data_and_a_wide_figure_are_found():
    plt, _ = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot([0, 1], [0, 1], label="line")
    ax.text(0.5, 0.5, "first label")
    ax.text(0.52, 0.5, "second label")
    ax.legend(loc="center")
    problems = layout_problems(drawn(fig))
    assert "text 'first label' overlaps 'second label'" in problems and "a legend lies over a panel" in problems
    plt.close(fig)
    wide = plt.figure(figsize=(1.5 * MAX_WIDTH_PX / DPI, 2))  # the drawn part (its tight box) is what counts
    wide.add_subplot().plot([0, 1])
    assert any(p.endswith(f"px wide (at most {MAX_WIDTH_PX})") for p in layout_problems(drawn(wide)))
    plt.close(wide)


def test_saving_warns_of_problems_and_labels_log_axes_in_plain_text(tmp_path):
    plt, _ = pyplot()
    fig, ax = plt.subplots()
    ax.text(0.5, 0.5, "a")
    ax.text(0.5, 0.5, "a")
    with pytest.warns(LayoutWarning, match=r"figure bad\.png: text 'a' overlaps 'a'"):
        save_figure(fig, tmp_path / "bad.png")
    fig, ax = plt.subplots()
    ax.plot([1e-3, 1.0], [0, 1])
    ax.set_xscale("log")
    with warnings.catch_warnings():
        warnings.simplefilter("error", LayoutWarning)
        save_png_and_pdf(fig, tmp_path, "log")  # math off (names are text): the labels would print "$\mathdefault"
    labels = [label.get_text() for label in ax.get_xticklabels()]
    assert "1e\N{MINUS SIGN}03" in labels and not any("$" in label for label in labels)


@pytest.mark.parametrize("rotation", [30, 45, 60])
def test_rotated_labels_are_judged_by_their_own_boxes_not_the_boxes_around_them(rotation):
    """Slanted bar names (ntk_figures turns model names 30 degrees) lie apart, parallel, though the upright
    rectangles around them overlap: no problem. Slanted names packed closer than a line's height do overlap."""
    plt, _ = pyplot()
    names = [f"model_number_{i}" for i in range(8)]
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.bar(names, range(8))
    ax.tick_params(axis="x", rotation=rotation)
    assert layout_problems(drawn(fig)) == []
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.bar(range(64), range(64))  # 64 named ticks, about 0.08 inch apart
    ax.set_xticks(range(64), [f"{name} {i}" for i, name in enumerate(names * 8)], rotation=rotation)
    assert any("overlaps" in problem for problem in layout_problems(drawn(fig)))
    plt.close(fig)
