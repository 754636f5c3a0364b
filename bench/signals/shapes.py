"""3-D shapes for signed-distance fitting (the ``sdf`` task): a triangle mesh read with trimesh, scaled into
the cube [-1, 1]^3, sampled on and off its surface with exact signed distances (libigl), and the scores of
a fitted distance field against it: Chamfer distance, IoU and normal consistency of the surface extracted
with marching cubes (scikit-image). These libraries are the ``sdf`` extra (``pip install -e ".[sdf]"``).

Sign convention (SIREN's): negative inside, positive outside, so the gradient on the surface is the
outward normal. Lengths are in the normalized cube's units (its side is 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.core.errors import BenchError, UsageError

EXTENT = 0.9  # the shape's largest half-extent after normalization: a margin inside [-1, 1]^3 for the grid
MIN_VOLUME = 1e-6  # in the normalized cube (its volume is 8): a mesh enclosing less is flat or open
SCORE_POINTS = 10_000  # points sampled on each surface for Chamfer distance and normal consistency


def _libraries():
    """trimesh, igl and skimage.measure, or a one-line error saying how to install them."""
    try:
        import igl
        import skimage.measure
        import trimesh
    except ImportError as exc:
        raise UsageError(f"the sdf task needs trimesh, libigl and scikit-image ({exc.name} is missing); "
                         f"install them with: pip install -e \".[sdf]\"") from None
    return trimesh, igl, skimage.measure


def _torus(trimesh):
    return trimesh.creation.torus(major_radius=1.0, minor_radius=0.4, major_sections=64, minor_sections=32)


def _sphere(trimesh):
    return trimesh.creation.icosphere(subdivisions=4, radius=1.0)


# shapes made in code, by name (``sdf:synthetic:torus``): no file, the same mesh on every machine
SYNTHETIC_SHAPES = {"torus": _torus, "sphere": _sphere}


@dataclass(frozen=True)
class Shape:
    """A closed triangle mesh in the normalized cube: vertices [V, 3] (float64) and faces [F, 3] (int64)."""

    vertices: np.ndarray
    faces: np.ndarray

    def signed_distance(self, points: np.ndarray) -> np.ndarray:
        """Exact distance [M] from points [M, 3] to the surface, negative inside (sign by the winding number,
        so it is defined for a mesh with small holes too)."""
        _, igl, _ = _libraries()
        distance, *_ = igl.signed_distance(np.ascontiguousarray(points, dtype=np.float64), self.vertices, self.faces,
                                           sign_type=igl.SIGNED_DISTANCE_TYPE_WINDING_NUMBER)
        return distance

    def volume(self) -> float:
        """The volume the faces enclose (signed: negative when wound inward; a closed mesh's exactly, by the
        divergence theorem), in the normalized cube's units."""
        v0, v1, v2 = (self.vertices[self.faces[:, i]] for i in range(3))
        return float(np.einsum("ij,ij->", v0, np.cross(v1, v2)) / 6)

    def surface_points(self, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """``count`` points drawn uniformly by area on the surface [count, 3] and their outward unit normals
        [count, 3] (the normal of the face each lies on), reproducible from ``seed``."""
        trimesh, _, _ = _libraries()
        mesh = trimesh.Trimesh(self.vertices, self.faces, process=False)
        points, face = trimesh.sample.sample_surface(mesh, count, seed=seed)
        return np.asarray(points), np.asarray(mesh.face_normals[face])


def load_shape(ref: str, path: Path | None) -> Shape:
    """The shape ``synthetic:NAME`` (``path`` None) or the mesh file at ``path`` (any format trimesh reads:
    OBJ, PLY, STL, OFF, GLB...), centred and scaled so that its largest half-extent is ``EXTENT``, then its
    texture seams merged, faces turned outward (where the winding number inside is negative). An unreadable
    file, a mesh without faces, with a non-finite vertex, of no extent or enclosing no volume is a one-line
    error."""
    trimesh, igl, _ = _libraries()
    mesh = SYNTHETIC_SHAPES[ref.removeprefix("synthetic:")](trimesh) if path is None else _read_mesh(trimesh, path)
    where = path or ref
    mesh.remove_unreferenced_vertices()
    _normalize(mesh, where)
    mesh.merge_vertices(merge_tex=True, merge_norm=True)  # an OBJ's texture seams split its vertices
    shape = Shape(np.ascontiguousarray(mesh.vertices, dtype=np.float64), np.ascontiguousarray(mesh.faces, dtype=np.int64))
    if abs(shape.volume()) < MIN_VOLUME:
        raise BenchError(f"mesh {where} encloses no volume (it is flat or open), so it has no inside to fit; pass a "
                         f"closed mesh of a solid")
    if igl.winding_number(shape.vertices, shape.faces, cube_grid(16)).sum() < 0:  # -1 inside: wound inward
        shape = Shape(shape.vertices, np.ascontiguousarray(shape.faces[:, ::-1]))
    return shape


def _read_mesh(trimesh, path: Path):
    """The triangle mesh in the file at ``path``, as stored (no vertex merged or dropped yet)."""
    try:
        mesh = trimesh.load(path, force="mesh", process=False)
    except Exception as exc:  # noqa: BLE001 - each reader raises its own kind
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BenchError(f"cannot read mesh {path} ({reason}); pass a triangle mesh file (OBJ, PLY, STL, OFF)") from None
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise BenchError(f"{path} holds no triangles; pass a triangle mesh file (OBJ, PLY, STL, OFF)")
    if not np.isfinite(mesh.vertices).all():
        raise BenchError(f"mesh {path} has a vertex with a NaN or infinite coordinate; fix or remove it")
    return mesh


def _normalize(mesh, where) -> None:
    """Centre ``mesh``'s vertices (in place) on its bounding box and scale its largest half-extent to
    ``EXTENT``, before anything merges vertices: merging rounds coordinates to a fixed tolerance, which would
    collapse a tiny mesh or one far from the origin."""
    low, high = mesh.bounds
    half = float(np.max(high - low)) / 2
    scale = EXTENT / half if half > 0 else np.inf
    if not np.isfinite(scale):
        raise BenchError(f"mesh {where} has no extent (all its vertices are one point, to float64 precision); pass "
                         f"a mesh of a solid")
    mesh.vertices = (np.asarray(mesh.vertices, dtype=np.float64) - (low + high) / 2) * scale


def cube_grid(resolution: int) -> np.ndarray:
    """The points [R^3, 3] of a resolution^3 grid spanning [-1, 1]^3, x outermost (``reshape(R, R, R)``
    gives field[x, y, z])."""
    axis = np.linspace(-1.0, 1.0, resolution)
    return np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)


@dataclass(frozen=True)
class SurfaceTruth:
    """What a fitted field is scored against: points [P, 3] and normals [P, 3] on the true surface, and the
    exact signed distance at each point of the scoring grid, [R, R, R]."""

    points: np.ndarray
    normals: np.ndarray
    distance: np.ndarray

    @classmethod
    def of(cls, shape: Shape, resolution: int) -> "SurfaceTruth":
        points, normals = shape.surface_points(SCORE_POINTS, seed=1)  # not the training points (seed 0)
        return cls(points, normals, shape.signed_distance(cube_grid(resolution)).reshape((resolution,) * 3))

    @property
    def inside(self) -> np.ndarray:
        """[R, R, R]: whether each grid point lies inside the shape."""
        return self.distance < 0

    @property
    def resolution(self) -> int:
        return self.distance.shape[0]


SURFACE_METRICS = ("chamfer", "iou", "normal_consistency")


def surface_scores(field: np.ndarray, truth: SurfaceTruth) -> dict[str, float]:
    """Scores of a distance field [R, R, R] (values on ``cube_grid(R)``) against the truth:

    - ``iou``: |A and B| / |A or B| of the grid points inside (field < 0) and truly inside;
    - ``chamfer``: the zero level set extracted by marching cubes, ``SCORE_POINTS`` points sampled on it,
      and the mean distance from each set to the nearest point of the other, summed over both directions;
    - ``normal_consistency``: the mean |cos| between the normals of those nearest pairs, both directions
      averaged (1 for the same surface; |cos| because a surface's orientation is not compared).

    A field with no zero crossing has no surface: its Chamfer distance and normal consistency are NaN."""
    import scipy.spatial

    trimesh, _, measure = _libraries()
    inside = field < 0
    union = np.logical_or(inside, truth.inside).sum()
    scores = {"iou": float(np.logical_and(inside, truth.inside).sum() / union) if union else float("nan"),
              "chamfer": float("nan"), "normal_consistency": float("nan")}
    if not (np.isfinite(field).all() and field.min() < 0 < field.max()):
        return scores
    step = 2.0 / (truth.resolution - 1)
    vertices, faces, _, _ = measure.marching_cubes(field, level=0.0, spacing=(step,) * 3)
    mesh = trimesh.Trimesh(vertices - 1.0, faces, process=False)
    points, face = trimesh.sample.sample_surface(mesh, SCORE_POINTS, seed=0)
    normals = mesh.face_normals[face]
    to_truth, nearest_true = scipy.spatial.cKDTree(truth.points).query(points)
    to_fit, nearest_fit = scipy.spatial.cKDTree(points).query(truth.points)
    cos_fit = np.abs(np.sum(normals * truth.normals[nearest_true], axis=1))
    cos_true = np.abs(np.sum(truth.normals * normals[nearest_fit], axis=1))
    scores |= {"chamfer": float(to_truth.mean() + to_fit.mean()),
               "normal_consistency": float((cos_fit.mean() + cos_true.mean()) / 2)}
    return scores
