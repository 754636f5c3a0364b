"""The matmul precision a training run asks for, as a torch setting scoped to the run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def matmul_precision(precision: str) -> Iterator[None]:
    """Inside the block, float32 matmuls may use TF32 when ``precision`` is "tf32" (CUDA; the CPU has no
    TF32); "fp32" and "bf16" change nothing here (the ensemble casts for bf16, see ``Ensemble``)."""
    before = torch.get_float32_matmul_precision()
    if precision == "tf32":
        torch.set_float32_matmul_precision("high")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)
