"""3-D signed distance fitting (SIREN paper, section 4.2): (x, y, z) in [-1, 1]^3 -> the signed distance to a
shape's surface (negative inside).

The points are fixed when the task is built, from seed 0: ``surface_points`` on the surface (with its outward
normals) and as many uniform in the cube (with their exact signed distances, bench.signals.shapes). SIREN's code
draws fresh off-surface points each step; a fixed set keeps a run reproducible and lets ``--batch-size``
draw minibatches from it as in every other task. Two losses:

- ``siren`` (default): SIREN's SDF loss (``loss_functions.sdf`` in vsitzmann/siren @ 4df34ba), per member
  and averaged over the batch's points: 3e3 |f| on the surface, 1e2 exp(-100 |f|) off it, 1e2 (1 - cos)
  between the gradient of f and the normal on the surface, and 5e1 | |grad f| - 1 | (eikonal) everywhere.
  It needs only an oriented point cloud; the exact distances are used for scoring (and WINNER's centroid).
- ``regression``: the MSE against the exact signed distance at every point.

Tracked during training: ``sdf_rmse`` (exact distance against prediction at the task's points). Scored after
training, on a grid of ``grid`` points per side: ``chamfer``, ``iou`` and ``normal_consistency`` of the
zero level set (bench.signals.shapes.surface_scores).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from bench.core.columns import ARTIFACT, declare_column
from bench.core.errors import UsageError
from bench.core.metrics import member_mse, spectral_centroid
from bench.models import Ensemble
from bench.signals.info import SignalInfo
from bench.core.registry import OneOf, PositiveInt
from bench.signals.shapes import SURFACE_METRICS, SYNTHETIC_SHAPES, Shape, SurfaceTruth, cube_grid, load_shape, surface_scores
from bench.signals.library import SignalLibrary, is_synthetic, synthetic_name
from bench.tasks import Task, register_task

LOSSES = ("siren", "regression")
SDF_LOSS_WEIGHTS = {"surface": 3e3, "off_surface": 1e2, "normal": 1e2, "eikonal": 5e1}  # SIREN's constants
OFF_SURFACE_SHARPNESS = 100.0  # exp(-100 |f|): SIREN's penalty on small values away from the surface
FIGURE_GRID = 22  # points per side of the coarse field each row keeps for the report's surface figure
FIELD_COLUMN = declare_column("sdf_field", ARTIFACT)  # that field, FIGURE_GRID^3 values x-major on [-1, 1]^3
MAX_GRID = 256  # points per side at most: the scoring grid's memory grows as its cube (400 took 6.9 GB)
CENTROID_GRID = 64  # points per side of the grid WINNER's centroid is measured on, whatever --grid scores on


def _unit_rmse(mse: Tensor) -> Tensor:
    return mse.sqrt()


@dataclass(frozen=True)
class SdfTask(Task):
    """coords [N, 3]: the ``surface_points`` points on the surface first, then as many off the surface. target [N, 5]:
    on-surface flag (1/0), outward normal (zeros off the surface) and the exact signed distance; reference
    [N, 1]: that distance. ``truth`` scores the extracted surface."""

    truth: SurfaceTruth | None = None
    regression: bool = False

    @property
    def derivative(self) -> bool:
        return not self.regression  # SIREN's loss holds the gradient of the output

    def fits(self, model: Ensemble, coords: Tensor, precision: str, training: bool) -> tuple[Tensor, Tensor]:
        """Output [K, B, 1] and, for SIREN's loss while training, [K, B, 4]: the output and its gradient."""
        if self.regression or not training:
            out = model(coords, precision)
            return out, out
        with torch.enable_grad():
            x = coords.expand(model.size, -1, -1).clone().requires_grad_(True)  # one leaf per member
            out = model(x, precision)
            grad = torch.autograd.grad(out.sum(), x, create_graph=True)[0]
        return out, torch.cat([out, grad], dim=-1)

    def loss(self, fitted: Tensor, target: Tensor) -> Tensor:
        """Losses [K]: SIREN's SDF loss of fitted [K, B, 4] (value, gradient), or the regression MSE."""
        if self.regression:
            return member_mse(fitted, target[:, 4:])
        on = target[:, 0]
        value, grad = fitted[..., 0], fitted[..., 1:]
        w = SDF_LOSS_WEIGHTS
        surface = (on * value.abs()).mean(dim=1)
        off = ((1 - on) * torch.exp(-OFF_SURFACE_SHARPNESS * value.abs())).mean(dim=1)
        normal = (on * (1 - F.cosine_similarity(grad, target[:, 1:4].expand_as(grad), dim=-1))).mean(dim=1)
        eikonal = (grad.norm(dim=-1) - 1).abs().mean(dim=1)
        return w["surface"] * surface + w["off_surface"] * off + w["normal"] * normal + w["eikonal"] * eikonal

    @torch.no_grad()
    def evaluate(self, model: Ensemble, precision: str = "fp32", final: bool = True) -> dict[str, Tensor]:
        """``sdf_rmse`` [K]; ``final``: with the surface scores [K] of each member's field on the grid."""
        metrics = super().evaluate(model, precision, final)
        if final:
            fields = self._field(model, self.truth.resolution, precision)
            scores = [surface_scores(one, self.truth) for one in fields]
            metrics |= {name: torch.tensor([s[name] for s in scores], device=self.coords.device)
                        for name in SURFACE_METRICS}
            coarse = self._field(model, FIGURE_GRID, precision)
            metrics[FIELD_COLUMN] = torch.from_numpy(coarse.reshape(model.size, -1).round(4)).float()
        return metrics

    def _field(self, model: Ensemble, resolution: int, precision: str) -> np.ndarray:
        """Each member's output on ``cube_grid(resolution)``: [K, R, R, R] (float64)."""
        points = torch.from_numpy(cube_grid(resolution)).float().to(self.coords.device)
        return self._output(model, points, precision)[..., 0].double().cpu().numpy().reshape(
            model.size, resolution, resolution, resolution)


def _shape(library: SignalLibrary, ref: str) -> Shape:
    if is_synthetic(ref):
        name = synthetic_name(ref)
        if name not in SYNTHETIC_SHAPES:
            raise UsageError(f"synthetic:{name} is not a shape; the sdf task fits a mesh file, a manifest shape "
                             f"or synthetic:{', synthetic:'.join(SYNTHETIC_SHAPES)}")
        return load_shape(f"synthetic:{name}", None)
    return load_shape(ref, library.path(ref, "shape"))


@register_task(domain="shape", help={
    "surface_points": "points on the surface, and as many uniform in the cube (default 20000)",
    "loss": "siren: SIREN's SDF loss on an oriented point cloud (default); regression: MSE on exact distances",
    "grid": f"points per side of the grid the surface is extracted and scored on (default 64, at most {MAX_GRID})"})
def sdf(library: SignalLibrary, ref: str, surface_points: PositiveInt = 20000,
        loss: Annotated[str, OneOf(*LOSSES)] = "siren", grid: PositiveInt = 64) -> Task:
    """Fit a 3-D shape's signed distance (a mesh file, a manifest shape, synthetic:torus|sphere)."""
    if grid < 8:
        raise UsageError(f"--grid must be at least 8 points per side to extract a surface, got {grid}")
    if grid > MAX_GRID:
        raise UsageError(f"--grid {grid} is over the largest grid allowed, {MAX_GRID} points per side (the grid's "
                         f"memory grows as its cube); give --grid {MAX_GRID} or less")
    shape = _shape(library, ref)
    surface, normals = shape.surface_points(surface_points, seed=0)
    free = np.random.default_rng(0).uniform(-1.0, 1.0, (surface_points, 3))
    on_surface = np.repeat([1.0, 0.0], surface_points)[:, None]
    distance = np.concatenate([np.zeros(surface_points), shape.signed_distance(free)])[:, None]
    coords = torch.from_numpy(np.concatenate([surface, free])).float()
    target = torch.from_numpy(np.hstack([on_surface, np.concatenate([normals, np.zeros_like(normals)]),
                                         distance])).float()
    reference = target[:, 4:].clone()
    truth = SurfaceTruth.of(shape, grid)
    # psi of the exact distance on a fixed grid, flattened x-major as an image's pixels are (docs/methods.md)
    on_grid = truth.distance if grid == CENTROID_GRID else shape.signed_distance(cube_grid(CENTROID_GRID))
    info = SignalInfo("shape", d_in=3, d_out=1, centroid=spectral_centroid(on_grid.reshape(-1, 1)), source=ref)
    meta = {"n_surface_points": surface_points, "grid": grid, "loss": loss, "faces": len(shape.faces),
            "inside_fraction": float(truth.inside.mean()), "centroid": info.centroid}
    return SdfTask("sdf", ref, coords, target, reference, info, "sdf_rmse", _unit_rmse, meta,
                   quality_metrics=SURFACE_METRICS, truth=truth, regression=loss == "regression")
