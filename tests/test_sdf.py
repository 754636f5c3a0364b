"""The sdf task: exact distances and outward normals, SIREN's loss at a true SDF, the surface scores, meshes
read from a user's file, and a fit scored and drawn end to end."""

import numpy as np
import pandas as pd
import pytest
import torch

from bench.cli import main
from bench.core.errors import BenchError, UsageError
from bench.signals.shapes import EXTENT, SurfaceTruth, cube_grid, load_shape, surface_scores
from bench.tasks import load_task

trimesh = pytest.importorskip("trimesh", reason="the sdf extra (pip install -e \".[sdf]\"); CI installs it")
TORUS_SCALE = EXTENT / 1.4  # synthetic:torus has radii 1 and 0.4: its largest half-extent is 1.4


def torus_distance(points: np.ndarray) -> np.ndarray:
    """The exact signed distance to the normalized synthetic torus, written out."""
    ring = np.hypot(points[:, 0], points[:, 1]) - 1.0 * TORUS_SCALE
    return np.hypot(ring, points[:, 2]) - 0.4 * TORUS_SCALE


@pytest.fixture(scope="module")
def torus(library):
    return load_task("sdf:synthetic:torus", library, {"surface_points": 3000, "grid": 24})


def test_distances_match_the_formula_and_normals_point_outward(torus):
    on = torus.target[:, 0] == 1
    assert int(on.sum()) == 3000 and torus.coords.shape == (6000, 3) and torus.coords.abs().max() <= 1
    free = torus.coords[~on].double().numpy()
    # the mesh is a tessellation of the torus: its distances differ from the formula by the facets' sag
    np.testing.assert_allclose(torus.reference[~on, 0].double().numpy(), torus_distance(free), atol=5e-3)
    assert torus.reference[on].abs().max() == 0
    surface, normals = torus.coords[on].double().numpy(), torus.target[on, 1:4].double().numpy()
    assert np.abs(torus_distance(surface)).max() < 5e-3
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-5)
    step = 0.02  # a step along the normal leaves the shape: the distance grows by the step
    np.testing.assert_allclose(torus_distance(surface + step * normals), step, atol=4e-3)
    assert 0.02 < torus.meta["inside_fraction"] < 0.2 and torus.info.d_in == 3 and torus.info.domain == "shape"


def test_sirens_loss_at_the_true_distance_is_only_its_off_surface_term(torus):
    # f = the exact distance: zero on the surface, gradient the outward normal of length 1 (eikonal), so
    # only 1e2 exp(-100 |f|) off the surface remains; a flipped normal would add 1e2 * 2 on the surface half of the points
    x = torus.coords.double().clone().requires_grad_(True)
    ring = torch.hypot(x[:, 0], x[:, 1]) - TORUS_SCALE
    f = torch.hypot(ring, x[:, 2]) - 0.4 * TORUS_SCALE
    grad = torch.autograd.grad(f.sum(), x)[0]  # the formula's gradient; the values: the mesh's exact distances
    fitted = torch.cat([torus.reference, grad.float()], dim=1)[None]
    on = torus.target[:, 0]
    loss = torus.loss(fitted, torus.target)
    off_term = 1e2 * ((1 - on) * torch.exp(-100 * torus.reference[:, 0].abs())).mean()
    # what is left: the facets' normals against the formula's (cos about 0.998 on the surface half)
    assert loss.shape == (1,) and off_term.item() <= loss[0].item() < off_term.item() + 0.2
    flipped = fitted.clone()
    flipped[..., 1:] *= -1
    assert torus.loss(flipped, torus.target)[0].item() > off_term.item() + 90


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


def test_a_users_mesh_file_is_normalized_like_the_shape_it_holds(tmp_path, library):
    path = tmp_path / "ring.ply"
    trimesh.creation.torus(major_radius=3.0, minor_radius=1.2, major_sections=64, minor_sections=32).apply_translation(
        [5.0, -2.0, 1.0]).export(path)
    task = load_task(f"sdf:{path}", library, {"surface_points": 500, "grid": 16})
    free = task.coords[task.target[:, 0] == 0].double().numpy()
    np.testing.assert_allclose(task.reference[task.target[:, 0] == 0, 0].numpy(), torus_distance(free), atol=5e-3)
    broken = tmp_path / "broken.obj"
    broken.write_text("this is not a mesh\n")
    with pytest.raises(BenchError, match="broken.obj"):
        load_task(f"sdf:{broken}", library, {})
    with pytest.raises(UsageError, match="sdf task"):
        load_task("audio:synthetic:torus", library, {})
    with pytest.raises(UsageError, match="--loss"):
        load_task("sdf:synthetic:torus", library, {"loss": "l1"})
    with pytest.raises(UsageError, match="not a shape"):
        load_task("sdf:synthetic:hf_noise", library, {})
    inward = tmp_path / "inward.ply"  # the same ring with every face wound the other way: turned outward
    ring = trimesh.load(path)
    trimesh.Trimesh(ring.vertices, ring.faces[:, ::-1], process=False).export(inward)
    flipped = load_task(f"sdf:{inward}", library, {"surface_points": 500, "grid": 16})
    off = flipped.target[:, 0] == 0
    np.testing.assert_allclose(flipped.reference[off, 0].numpy(), task.reference[off, 0].numpy(), atol=1e-6)
    on = ~off
    outward = flipped.coords[on].double().numpy() + 0.02 * flipped.target[on, 1:4].double().numpy()
    np.testing.assert_allclose(torus_distance(outward), 0.02, atol=4e-3)


def test_a_fit_is_scored_summarized_reported_and_drawn(tmp_path, capsys):
    out = tmp_path / "runs"
    assert main(["run", "--task", "sdf:synthetic:sphere", "--model", "siren", "--seeds", "0", "--surface-points",
                 "2000", "--batch-size", "1000", "--eval-every", "100", "--grid", "24", "--steps", "300", "--width",
                 "32", "--layers", "2", "--loss", "regression", "--device", "cpu", "--out", str(out)]) == 0
    summary = capsys.readouterr().out
    assert "sdf_rmse=" in summary and "iou=" in summary and "chamfer=" in summary
    row = pd.read_parquet(out / "results.parquet").iloc[0]
    assert row["main_metric"] == "sdf_rmse" and row["sdf_rmse"] < row["curve_sdf_rmse"][0]  # it learned
    assert 0 < row["iou"] <= 1 and row["chamfer"] > 0 and len(row["sdf_field"]) == 22**3
    assert main(["report", str(out), "--out", str(tmp_path / "report")]) == 0
    readme = (tmp_path / "report" / "README.md").read_text()
    assert "surface_synthetic_sphere.png" in readme and (tmp_path / "report" / "table_iou.md").exists()
    assert (tmp_path / "report" / "surface_synthetic_sphere.png").stat().st_size > 10_000


def test_the_grid_points_are_x_major():
    grid = cube_grid(3).reshape(3, 3, 3, 3)
    assert grid[2, 0, 0].tolist() == [1.0, -1.0, -1.0] and grid[0, 0, 2].tolist() == [-1.0, -1.0, 1.0]


def test_sirens_loss_trains_end_to_end_with_minibatches(tmp_path):
    out = tmp_path / "runs"
    assert main(["run", "--task", "sdf:synthetic:torus", "--model", "siren", "--seeds", "0", "--surface-points", "1000",
                 "--batch-size", "500", "--eval-every", "10", "--grid", "16", "--steps", "40", "--width", "32",
                 "--layers", "2", "--device", "cpu", "--compile", "off", "--out", str(out)]) == 0
    row = pd.read_parquet(out / "results.parquet").iloc[0]
    assert row["status"] == "ok" and row["loss"] == "siren" and np.isfinite(row["sdf_rmse"])
    assert len(set(np.round(row["curve_sdf_rmse"], 6))) > 1 and row["iou"] > 0  # it trained, and has an inside


def test_each_loss_is_timed_on_its_own(torus, library):
    """SIREN's loss back-propagates through a gradient (torch.compile cannot), regression does not: their
    ensemble-size measurements must not be shared."""
    from bench.models import parse_model
    from bench.perf.sizing import cache_key
    from bench.training import Problem, TrainConfig

    regression = load_task("sdf:synthetic:torus", library, {"surface_points": 3000, "grid": 24, "loss": "regression"})
    keys = [cache_key(Problem(task, parse_model("siren"), 16, 2, TrainConfig()), 2)
            for task in (torus, regression)]
    assert keys[0] != keys[1]


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
