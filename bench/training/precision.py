"""The matmul precision a training run asks for, as a torch setting scoped to the run."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch

from bench.core.errors import UsageError

TF32_CAPABILITY = (8, 0)  # CUDA GPUs from Ampere on have TF32 matmuls


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


def check_available(precisions: Iterable[str], device: torch.device) -> None:
    """Refuse "tf32" on a device without TF32 matmuls (a CPU; a CUDA GPU before compute capability 8.0),
    before training: its rows would hold fp32's numbers under the label tf32."""
    if "tf32" not in precisions:
        return
    if device.type == "cuda" and torch.cuda.get_device_capability(device) >= TF32_CAPABILITY:
        return
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "the CPU"
    raise UsageError(f"precision tf32 on {device} ({name}): this device has no TF32 matmuls, so it would train at "
                     f"fp32 under the label tf32; use fp32 or bf16 here, or tf32 on a CUDA GPU of compute capability "
                     f"8.0 or newer")
