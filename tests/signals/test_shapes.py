"""Shapes (bench.signals.shapes): the surface scores, the grid, and meshes that cannot be fitted or must be
normalized first."""

import numpy as np
import pytest

from bench.core.errors import BenchError, UsageError
from bench.signals.shapes import EXTENT, SurfaceTruth, cube_grid, load_shape, surface_scores
from bench.tasks import load_task


trimesh = pytest.importorskip("trimesh", reason="the sdf extra (pip install -e \".[sdf]\"); CI installs it")


def test_the_exact_field_scores_perfectly_and_a_wrong_one_does_not():
    shape = load_shape("synthetic:torus", None)
    truth = SurfaceTruth.of(shape, 32)
    exact = surface_scores(truth.distance, truth)
    assert exact["iou"] == 1.0 and exact["normal_consistency"] > 0.98
    assert exact["chamfer"] < 2 * (2 / 31)  # within about a grid cell: marching cubes at this grid
    fat = surface_scores(truth.distance - 0.1, truth)  # the torus grown by 0.1
    assert fat["iou"] < 0.8 and fat["chamfer"] > 0.15
    nothing = surface_scores(np.ones_like(truth.distance), truth)
    assert nothing["iou"] == 0 and np.isnan(nothing["chamfer"]) and np.isnan(nothing["normal_consistency"])


def test_the_grid_points_are_x_major():
    grid = cube_grid(3).reshape(3, 3, 3, 3)
    assert grid[2, 0, 0].tolist() == [1.0, -1.0, -1.0] and grid[0, 0, 2].tolist() == [-1.0, -1.0, 1.0]


def _saved(tmp_path, name: str, vertices, faces) -> str:
    """An OFF file of these vertices, written with every digit of float64 (trimesh's writers round)."""
    path = tmp_path / name
    lines = [f"{len(vertices)} {len(faces)} 0", *(" ".join(map(repr, map(float, v))) for v in vertices),
             *(f"3 {a} {b} {c}" for a, b, c in faces)]
    path.write_text("OFF\n" + "\n".join(lines) + "\n")
    return str(path)


def test_a_mesh_that_cannot_be_fitted_is_refused_in_one_line(tmp_path, library):
    box = trimesh.creation.box()
    nan = box.vertices.copy()
    nan[0] = np.nan
    flat = box.vertices * [1.0, 1.0, 0.0]  # the box pressed flat: its faces enclose nothing
    refused = {"vertex with a NaN": _saved(tmp_path, "nan.off", nan, box.faces),
               "encloses no volume": _saved(tmp_path, "flat.off", flat, box.faces),
               "encloses no volume ": _saved(tmp_path, "one.off", [[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 1, 2]]),
               "no extent": _saved(tmp_path, "point.off", [[1.0, 2.0, 3.0]] * 3, [[0, 1, 2]])}
    for message, path in refused.items():
        with pytest.raises(BenchError, match=message.strip()):
            load_shape(path, __import__("pathlib").Path(path))
    with pytest.raises(UsageError, match="largest grid allowed, 256"):
        load_task("sdf:synthetic:sphere", library, {"grid": 400})


@pytest.mark.parametrize("scale, offset", [(1e-12, 0.0), (1.0, 1e12)])
def test_a_tiny_or_far_mesh_is_normalized_before_its_vertices_merge(tmp_path, scale, offset):
    from pathlib import Path

    box = trimesh.creation.box()
    path = _saved(tmp_path, "box.off", box.vertices * scale + offset, box.faces)
    shape = load_shape(path, Path(path))
    assert len(shape.vertices) == 8 and len(shape.faces) == 12
    np.testing.assert_allclose(np.abs(shape.vertices), EXTENT, rtol=1e-3)  # the unit box, whatever its size and place
