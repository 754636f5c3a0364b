"""Empirical NTK of every ensemble member and its spectral energy (docs/methods.md).

On M points, J [M, P] is the Jacobian of a member's output (the mean over output channels) with
respect to all of its parameters; K = J J^T / M^2. With K = V diag(lambda) V^T, the spectrum is
S(f) = sum_i lambda_i |FFT(v_i)(f)|^2 / M (2-D FFT on a square grid for images), so sum_f S = trace K.

The M points are consecutive samples of the task's own grid (audio: the first M samples; images: the
central sqrt(M) x sqrt(M) patch), so frequencies are on the signal's scale, 1.0 = Nyquist, and are
comparable with the target's spectral centroid psi.

Memory: Jacobians are computed in chunks of points, vmapped over members and points (torch.func),
and multiplied in float64; off-diagonal blocks recompute the second chunk instead of storing all of
J. ``max_bytes`` (default 256 MiB) caps one chunk's float32 Jacobian (members x chunk x P x 4 bytes);
the peak is several times that (float64 copies of two chunks, jacrev's intermediates) plus K itself
(members x M^2 x 8 bytes); docs/ntk.md gives a measured figure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torch.func import functional_call, jacrev, vmap

from bench.core.errors import UsageError
from bench.models import Architecture, Ensemble
from bench.core.plotting import headline, pyplot, save_figure
from bench.core.provenance import provenance
from bench.tasks import Task

DEFAULT_MAX_BYTES = 2**28


def ntk_points(task: Task, points: int) -> tuple[Tensor, tuple[int, ...]]:
    """coords [M, d_in] of a contiguous window of the task's grid and the grid shape ((M,) or (s, s)); for a
    task that holds points out, of the whole grid (the kept points of a random mask are not evenly spaced)."""
    coords = task.held_out.coords if task.held_out is not None else task.coords
    if task.grid is None or len(task.grid) not in (1, 2):
        raise UsageError(f"the NTK spectrum needs points on a 1-D or 2-D grid, and task {task.name} declares none "
                         f"(Task.grid); drop the NTK option for it")
    if len(task.grid) == 1:
        if points > len(coords):
            raise UsageError(f"--points {points} exceeds the signal's {len(coords)} samples")
        return coords[:points], (points,)
    side = math.isqrt(points)
    height, width = task.grid
    if side * side != points or side > min(height, width):
        raise UsageError(f"--points {points} must be a square number no larger than the image ({height}x{width})")
    top, left = (height - side) // 2, (width - side) // 2
    grid = coords.reshape(height, width, 2)[top:top + side, left:left + side]
    return grid.reshape(-1, 2), (side, side)


def _jacobian(model: Ensemble, trained: dict[str, Tensor], fixed: dict[str, Tensor], coords: Tensor) -> Tensor:
    """J [K, c, P]: d(mean over channels of member k's output at coords[i]) / d(member k's trained parameters).

    Fixed parameters (e.g. a Fourier encoding) are sliced per member too, but not differentiated.
    """

    def output(member_trained: dict[str, Tensor], member_fixed: dict[str, Tensor], omegas: Tensor,
               x: Tensor) -> Tensor:
        one = {name: p[None] for name, p in (member_trained | member_fixed).items()}
        return functional_call(model, (one, {"omegas": omegas[:, None]}), (x[None],)).mean()

    per_member = vmap(vmap(jacrev(output), in_dims=(None, None, None, 0)), in_dims=(0, 0, 1, None))
    jac = per_member(trained, fixed, model.omegas, coords)
    k, c = model.size, coords.shape[0]
    return torch.cat([j.reshape(k, c, -1) for j in jac.values()], dim=2)


def ntk_matrix(model: Ensemble, coords: Tensor, max_bytes: int = DEFAULT_MAX_BYTES) -> Tensor:
    """K [members, M, M] in float64 for coords [M, d_in] (K = J J^T / M^2); real weights only (see
    ``bench.models.unsupported``)."""
    trained = {name: p.detach() for name, p in model.named_parameters() if p.requires_grad}
    fixed = {name: p.detach() for name, p in model.named_parameters() if not p.requires_grad}
    m = coords.shape[0]
    per_point = model.size * model.member_parameters() * 4
    chunk = max(1, min(m, max_bytes // per_point))
    starts = list(range(0, m, chunk))
    kernel = torch.zeros(model.size, m, m, dtype=torch.float64, device=coords.device)
    for i, a in enumerate(starts):
        ja = _jacobian(model, trained, fixed, coords[a:a + chunk]).double()
        for b in starts[i:]:
            jb = ja if b == a else _jacobian(model, trained, fixed, coords[b:b + chunk]).double()
            block = torch.bmm(ja, jb.transpose(1, 2))
            kernel[:, a:a + chunk, b:b + chunk] = block
            kernel[:, b:b + chunk, a:a + chunk] = block.transpose(1, 2)
    return kernel / m**2


@dataclass(frozen=True)
class Spectrum:
    """One member's NTK spectrum. freq: |f| per FFT bin on the 1.0 = Nyquist scale (radial for 2-D);
    energy: S at each bin (flattened, same order); eigenvalues: descending."""

    freq: np.ndarray
    energy: np.ndarray
    eigenvalues: np.ndarray

    def summary(self, centroid: float) -> dict[str, float]:
        """Total energy (= trace K), fractions above the target centroid and half Nyquist, the spectrum's
        centroid, the effective rank exp(entropy of lambda / sum lambda), and the top eigenvalue."""
        total = float(self.energy.sum())
        lam = np.clip(self.eigenvalues, 0.0, None)
        p = lam / lam.sum()
        entropy = -float(np.sum(p[p > 0] * np.log(p[p > 0])))
        return {
            "total": total,
            "frac_above_centroid": float(self.energy[self.freq >= centroid].sum() / total),
            "frac_above_half_nyquist": float(self.energy[self.freq >= 0.5].sum() / total),
            "centroid": float((self.freq * self.energy).sum() / total),
            "effective_rank": math.exp(entropy),
            "top_eigenvalue": float(self.eigenvalues[0]),
        }


def spectra(kernel: Tensor, shape: tuple[int, ...]) -> list[Spectrum]:
    """Eigendecompose each member's K [M, M] and form S(f) on the grid ``shape`` ((M,) or (s, s))."""
    eigenvalues, vectors = torch.linalg.eigh(kernel.double())  # ascending
    eigenvalues, vectors = eigenvalues.flip(-1), vectors.flip(-1)
    m = kernel.shape[-1]
    grids = np.meshgrid(*[np.fft.fftfreq(n) for n in shape], indexing="ij")
    freq = (np.sqrt(sum(g**2 for g in grids)) / 0.5).reshape(-1)
    modes = vectors.transpose(-1, -2).reshape(*vectors.shape[:-2], m, *shape)  # [K, M eigenvectors, *shape]
    power = torch.fft.fftn(modes, dim=tuple(range(-len(shape), 0))).abs().square().reshape(*modes.shape[:-len(shape)], -1)
    energy = (eigenvalues[..., None] * power).sum(dim=-2) / m
    return [Spectrum(freq, e.cpu().numpy(), lam.cpu().numpy()) for e, lam in zip(energy, eigenvalues)]


STAGES = ("init", "final")


@dataclass(frozen=True)
class NtkOptions:
    """Record NTK summaries at these stages ("init": before training, "final": after) on ``points`` points."""

    stages: tuple[str, ...]
    points: int = 256

    def __post_init__(self):
        unknown = set(self.stages) - set(STAGES)
        if unknown or not self.stages:
            raise UsageError(f"NTK stages must be among {', '.join(STAGES)}, got {', '.join(self.stages) or 'none'}")
        if self.points < 2:
            raise UsageError(f"NTK points must be at least 2, got {self.points}")


def ntk_summaries(model: Ensemble, task: Task, points: int, prefix: str,
                  max_bytes: int = DEFAULT_MAX_BYTES) -> list[dict[str, float]]:
    """Per member, the spectral summaries as columns named ``{prefix}_{name}`` (e.g. ntk_init_total);
    NaN for a member whose weights are no longer finite (diverged)."""
    coords, shape = ntk_points(task, points)
    kernel = ntk_matrix(model, coords, max_bytes)
    finite = torch.isfinite(kernel).flatten(1).all(dim=1)
    members = spectra(torch.where(finite[:, None, None], kernel, 1.0), shape)  # eigh fails on NaN
    summaries = [s.summary(task.info.centroid) for s in members]
    return [{f"{prefix}_{k}": (v if ok else float("nan")) for k, v in summary.items()}
            for summary, ok in zip(summaries, finite.tolist())]


def plot_spectra(curves: dict[str, list[Spectrum]], path, centroid: float | None = None, bins: int = 128,
                 title: str = "") -> None:
    """Left: S(f) of each model (mean over its members), binned by |f|, log y; middle: the same with each
    member's spectrum divided by its total first, so that shapes compare when levels differ by orders of
    magnitude; right: eigenvalue decay lambda_i / lambda_1. ``curves`` maps a model label to its members'
    spectra; ``title`` names what they were computed on (task, signal, points)."""
    plt, _ = pyplot()
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(16, 4.2))
    for label, members in curves.items():
        edges = np.linspace(0, max(s.freq.max() for s in members), bins + 1)
        centres = (edges[:-1] + edges[1:]) / 2
        binned = np.array([np.histogram(s.freq, edges, weights=s.energy)[0] for s in members])  # [members, bins]
        left.semilogy(centres, binned.mean(axis=0) + 1e-300, label=label)
        shares = binned / binned.sum(axis=1, keepdims=True)
        middle.semilogy(centres, shares.mean(axis=0) + 1e-300, label=label)
        decay = np.mean([s.eigenvalues / s.eigenvalues[0] for s in members], axis=0)
        right.loglog(np.arange(1, len(decay) + 1), np.clip(decay, 1e-300, None), label=label)
    for ax in (left, middle):
        if centroid is not None:
            ax.axvline(centroid, color="k", ls="--", lw=0.8, label="target centroid")
        ax.set_xlabel("frequency |f| (1 = Nyquist)")
    left.set(ylabel="NTK spectral energy S(f)", title="NTK spectrum (mean over members)")
    middle.set(ylabel="share of the member's total energy", title="normalized: S(f) / sum S")
    right.set(xlabel="index i", ylabel="λ_i / λ_1", title="eigenvalue decay")
    # one legend, beside the last panel rather than over the data (the first panel's entries: every curve
    # and the centroid)
    right.legend(*left.get_legend_handles_labels(), fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
    if title:
        headline(fig, title)
    fig.tight_layout()
    save_figure(fig, path)


def ntk_rows(task: Task, specs: list, arch: Architecture, members: list[Spectrum], points: int,
             device: torch.device) -> list[dict]:
    """One result row per member (``specs``: their MemberSpecs, ``arch``: their network's size, ``members``:
    their spectra on ``points`` points): who it is, the task, the provenance and the summaries as
    ``ntk_init_*`` columns."""
    return [{"model": spec.model.entry.name, "model_spec": spec.model.label, "seed": spec.seed, "task": task.name,
             "signal": task.signal, "width": arch.width, "layers": arch.layers,
             "points": points} | task.meta | provenance(device)
            | {f"ntk_init_{k}": v for k, v in member.summary(task.info.centroid).items()}
            for spec, member in zip(specs, members)]


def ntk_means(rows: list[dict]):
    """A pandas DataFrame of the summaries of ``ntk_rows`` averaged per model spec, one column per summary."""
    import pandas as pd

    table = pd.DataFrame(rows).groupby("model_spec", sort=False)[[c for c in rows[0] if c.startswith("ntk_")]].mean()
    table.columns = [c.removeprefix("ntk_init_") for c in table.columns]
    return table
