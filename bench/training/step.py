"""One training step: forward, the loss that is optimized (the sum of the finite losses of the members
still alive), backward; run eagerly or compiled with torch.compile."""

from __future__ import annotations

import warnings

import torch
from torch import Tensor

from bench.core.errors import BenchWarning, is_out_of_memory
from bench.models import Ensemble
from bench.core.caches import use_compile_cache
from bench.tasks import Task


COMPILE_CACHE_LIMIT = 1024  # compiled variants kept per step function: one per ensemble shape


def _allow_recompiles() -> None:
    """Every ensemble shape compiles the step anew; past dynamo's default limit of 8 shapes it would
    silently run eagerly, so raise the limit (the name changed across torch versions)."""
    config = torch._dynamo.config
    name = "recompile_limit" if hasattr(config, "recompile_limit") else "cache_size_limit"
    setattr(config, name, max(getattr(config, name), COMPILE_CACHE_LIMIT))
    if hasattr(config, "accumulated_recompile_limit"):
        config.accumulated_recompile_limit = max(config.accumulated_recompile_limit, COMPILE_CACHE_LIMIT)
    elif hasattr(config, "accumulated_cache_size_limit"):
        config.accumulated_cache_size_limit = max(config.accumulated_cache_size_limit, COMPILE_CACHE_LIMIT)


class TrainingStep:
    """``step(idx, alive)``: zero the gradients, compute the task's losses [K] (and metric [K] or None)
    on the points ``idx`` (None: all) at the matmul ``precision``, and back-propagate the sum of the finite losses of members still
    ``alive``; returns (losses, metric).

    With ``compile`` the forward and backward are compiled by torch.compile (on CUDA in
    "reduce-overhead" mode, i.e. replayed as CUDA graphs). Where that fails (no C++ compiler, an
    unsupported operation such as the double backward of the Poisson tasks), it warns (a ``BenchWarning``,
    one line per ensemble shape) and runs eagerly from then on; running out of memory is not a compile failure and propagates.
    """

    def __init__(self, model: Ensemble, task: Task, precision: str = "fp32", compile: bool = False):
        self.model, self.task, self.precision = model, task, precision
        self.complex_params = [p for p in model.parameters() if p.is_complex()]
        self.cuda_graphs = compile and task.coords.device.type == "cuda"
        self.compiled = None
        if compile:
            use_compile_cache()
            _allow_recompiles()
            self.compiled = torch.compile(self._forward_backward, dynamic=False,
                                          mode="reduce-overhead" if self.cuda_graphs else None)

    def __call__(self, idx: Tensor | None, alive: Tensor) -> tuple[Tensor, Tensor | None]:
        points = self.task.size if idx is None else len(idx)
        with self.model.as_in_an_ensemble(points):  # a lone member's gradients as in any ensemble
            return self._step(idx, alive)

    def _step(self, idx: Tensor | None, alive: Tensor) -> tuple[Tensor, Tensor | None]:
        self.model.zero_grad(set_to_none=True)
        if self.compiled is not None:
            try:
                if self.cuda_graphs:
                    torch.compiler.cudagraph_mark_step_begin()
                losses, metric = self.compiled(idx, alive)
                # CUDA graphs reuse their output buffers on the next replay
                return losses.clone(), None if metric is None else metric.clone()
            except Exception as exc:
                if is_out_of_memory(exc):
                    raise
                warnings.warn(self._fallback_note(exc, idx), BenchWarning, stacklevel=2)
                self.compiled = None
                self.model.zero_grad(set_to_none=True)
        return self._forward_backward(idx, alive)

    def _fallback_note(self, exc: Exception, idx: Tensor | None) -> str:
        """The one line saying this step trains eagerly: the same for every ensemble of one shape (members,
        layer widths, points), so the CLI shows it once per shape."""
        widths = "-".join(str(weights.shape[1]) for weights in self.model.weights)
        points = self.task.size if idx is None else len(idx)
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        return (f"{self.task.name}: torch.compile cannot compile the training step of {self.model.size} member(s) "
                f"of widths {widths} on {points:,} points ({type(exc).__name__}: {reason}); it trains eagerly")

    def _forward_backward(self, idx: Tensor | None, alive: Tensor) -> tuple[Tensor, Tensor | None]:
        losses, metric = self.task.step(self.model, idx, self.precision)
        penalty = self.model.penalty()  # a network's regularizer (a grid's total variation): optimized, not reported
        optimized = losses if penalty is None else losses + penalty
        torch.where(alive & torch.isfinite(optimized), optimized, 0.0).sum().backward()
        for p in self.complex_params:  # Adam's view_as_real refuses the lazily conjugated grads double backward leaves
            if p.grad is not None and p.grad.is_conj():
                p.grad = p.grad.resolve_conj()
        return losses, metric
