"""Which float precision runs fastest here: decided once per process by a timed product, on CPU and GPU alike.

CPUs differ by two orders of magnitude in bf16: an AVX2-only EPYC runs a bf16 matrix product ~80x *slower* than
fp32 (torch falls back to a scalar kernel), a CPU with AVX512-BF16 or AMX ~3-8x *faster*. Flags alone do not
say what torch's kernels make of them, so we time the operation that dominates planning and training.
"""
from __future__ import annotations

import contextlib
import functools
import time

import torch

PRECISIONS = ("auto", "bf16", "fp32")


@functools.lru_cache(maxsize=None)
def bf16_is_faster(device_type: str = "cpu", rows: int = 512, dim: int = 192, out: int = 768,
                   repeats: int = 5) -> bool:
    """Times a (rows x dim) @ (dim x out) product, the shape of a predictor MLP layer over a few hundred
    candidates, in bf16 and fp32 on ``device_type`` ("cpu" or "cuda"); True if bf16 takes under 0.8x as long.

    Cached: the answer is measured once per process and device type (~10 ms on a CPU).
    """
    if device_type == "cuda" and not (torch.cuda.is_available() and torch.cuda.is_bf16_supported()):
        return False
    timings = {}
    for dtype in (torch.float32, torch.bfloat16):
        a = torch.randn(rows, dim, device=device_type).to(dtype)
        b = torch.randn(dim, out, device=device_type).to(dtype)
        a @ b  # first call: kernel selection, allocation
        _sync(device_type)
        start = time.perf_counter()
        for _ in range(repeats):
            a @ b
        _sync(device_type)
        timings[dtype] = time.perf_counter() - start
    return timings[torch.bfloat16] < 0.8 * timings[torch.float32]


def resolve_precision(precision: str, device: torch.device | str) -> str:
    """``"auto"`` -> ``"bf16"`` where bf16 is measured faster on ``device``, else ``"fp32"``; others as given.

    Raises:
        ValueError: ``precision`` is not one of ``PRECISIONS``.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision != "auto":
        return precision
    device_type = torch.device(device).type
    return "bf16" if device_type in ("cpu", "cuda") and bf16_is_faster(device_type) else "fp32"


def autocast_context(device: torch.device | str, precision: str):
    """bf16 autocast on ``device`` when ``precision == "bf16"``, else a no-op context."""
    if precision == "bf16":
        return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _sync(device_type: str) -> None:
    if device_type == "cuda":
        torch.cuda.synchronize()
