"""One training step (forward, loss, backward), run eagerly or compiled with torch.compile, and the
matmul precision it runs under."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor

from bench.errors import is_out_of_memory
from bench.models import Ensemble
from bench.tasks import Task


@contextmanager
def matmul_precision(precision: str) -> Iterator[None]:
    """Inside the block, float32 matmuls may use TF32 when ``precision`` is "tf32" (CUDA; the CPU has no
    TF32); "fp32" and "bf16" change nothing here (the ensemble casts for bf16)."""
    before = torch.get_float32_matmul_precision()
    if precision == "tf32":
        torch.set_float32_matmul_precision("high")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)


class TrainingStep:
    """``step(idx, alive)``: zero the gradients, compute the task's losses [K] (and metric [K] or None)
    on the points ``idx`` (None: all), and back-propagate the sum of the finite losses of members still
    ``alive``; returns (losses, metric).

    With ``compile`` the forward and backward are compiled by torch.compile (on CUDA in
    "reduce-overhead" mode, i.e. replayed as CUDA graphs). Where that fails (no C++ compiler, an
    unsupported operation such as the double backward of the Poisson tasks), it warns once and runs
    eagerly from then on; running out of memory is not a compile failure and propagates.
    """

    def __init__(self, model: Ensemble, task: Task, compile: bool = False):
        self.model, self.task = model, task
        self.complex_params = [p for p in model.parameters() if p.is_complex()]
        self.cuda_graphs = compile and task.coords.device.type == "cuda"
        self.compiled = None
        if compile:
            self.compiled = torch.compile(self._forward_backward, dynamic=False,
                                          mode="reduce-overhead" if self.cuda_graphs else None)

    def __call__(self, idx: Tensor | None, alive: Tensor) -> tuple[Tensor, Tensor | None]:
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
                warnings.warn(f"torch.compile failed ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); "
                              f"training eagerly instead", RuntimeWarning, stacklevel=2)
                self.compiled = None
                self.model.zero_grad(set_to_none=True)
        return self._forward_backward(idx, alive)

    def _forward_backward(self, idx: Tensor | None, alive: Tensor) -> tuple[Tensor, Tensor | None]:
        losses, metric = self.task.step(self.model, idx)
        torch.where(alive & torch.isfinite(losses), losses, 0.0).sum().backward()
        for p in self.complex_params:  # Adam's view_as_real refuses the lazily conjugated grads double backward leaves
            if p.grad is not None and p.grad.is_conj():
                p.grad = p.grad.resolve_conj()
        return losses, metric
