"""The surfaces an sdf sweep fitted: the zero level set of each init's field (the coarse field its rows keep,
``sdf_field``) by marching cubes, one panel per init, one figure per shape."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bench.core.plotting import headline, pyplot, save_png_and_pdf
from bench.report.tables import natural
from bench.report.sections import Report, pictures, report_section
from bench.tasks.sdf import FIELD_COLUMN


def surface_figures(ok: pd.DataFrame, out: Path) -> list[str]:
    """Per shape, each init's fitted surface at its lowest seed (``surface_<shape>.png``); returns the PNG
    names (none without sdf rows, or without scikit-image to extract the surfaces)."""
    if FIELD_COLUMN not in ok:
        return []
    rows = ok[ok[FIELD_COLUMN].map(lambda v: v is not None and len(v) > 0)]
    try:
        from skimage.measure import marching_cubes
    except ImportError:  # the sdf extra is not installed here: the tables still hold every score
        return []
    plt, _ = pyplot()
    made = []
    for signal, shape_rows in rows.groupby("signal"):
        first = shape_rows.sort_values("seed").groupby("model_spec", sort=False).head(1)
        first = first.set_index("model_spec").loc[sorted(first["model_spec"], key=natural)]
        fig = plt.figure(figsize=(2.6 * len(first), 2.8))
        for i, (model, row) in enumerate(first.iterrows()):
            ax = fig.add_subplot(1, len(first), i + 1, projection="3d")
            field = np.asarray(row[FIELD_COLUMN], dtype=np.float64)
            side = round(len(field) ** (1 / 3))
            field = field.reshape(side, side, side)
            if field.min() < 0 < field.max():
                vertices, faces, _, _ = marching_cubes(field, level=0.0, spacing=(2 / (side - 1),) * 3)
                x, y, z = (vertices - 1).T
                ax.plot_trisurf(x, z, faces, y, color="0.75", edgecolor="none", shade=True)  # the y axis up
            ax.set(xlim=(-1, 1), ylim=(-1, 1), zlim=(-1, 1), xticks=[], yticks=[], zticks=[])
            ax.view_init(elev=20, azim=-60)
            ax.set_title(f"{model}\nseed {row['seed']}, IoU {row.get('iou', float('nan')):.3f}", fontsize=8)
        headline(fig, f"sdf:{signal}: zero level set of each init's field ({side}^3 grid)", fontsize=9)
        fig.subplots_adjust(top=0.78)
        name = f"surface_{''.join(c if c.isalnum() else '_' for c in str(signal))}"
        made.append(save_png_and_pdf(fig, out, name)[0])
    return made


@report_section(order=20)
def fitted_surfaces(report: Report) -> list[str]:
    pngs = surface_figures(report.ok, report.out)
    return ["## Fitted surfaces", "", "The zero level set of each init's fitted signed distance (its lowest seed), "
            "extracted by marching cubes from the coarse field the row keeps.", "", *pictures(pngs)] if pngs else []
