"""The sdf task: exact distances and outward normals, SIREN's loss at a true SDF, and meshes read from a user's
file."""

import numpy as np
import pytest
import torch

from bench.core.errors import BenchError, UsageError
from bench.signals.shapes import EXTENT
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
