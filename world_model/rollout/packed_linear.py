"""Linear layers with their weights pre-packed for oneDNN on the CPU: the planning rollout's products.

In bf16 on the CPU ``F.linear`` runs through oneDNN, which reorders the weight into its blocked layout at every
call; a plan calls each of the rollout's few dozen weights hundreds of times. Packing each weight once, and fusing
the GELU after the first MLP product into the product's epilogue (one pass less over the (rows, mlp width)
activations), removes that work. The results are the same products in the same precision (the fused GELU within
bf16 rounding: ``tests/test_fast_rollout.py``). Measured in ``experiments/bench/realtime.md``.

Where packing is not available (no oneDNN, a CPU whose oneDNN has no bf16 reorder, another device, fp32, where
torch uses MKL's own GEMM) or the code is
being traced by ``torch.compile`` (inductor cannot lower packed weights; it fuses the element-wise work itself),
the plain ``F.linear`` runs.
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F


def can_pack(device: torch.device | str, dtype: torch.dtype) -> bool:
    """True where weights of ``dtype`` on ``device`` can be pre-packed for oneDNN: bf16 on a CPU whose oneDNN
    runs the packed bf16 product (``cpu_packs_bf16``)."""
    return torch.device(device).type == "cpu" and dtype == torch.bfloat16 and cpu_packs_bf16()


@functools.lru_cache(maxsize=1)
def cpu_packs_bf16() -> bool:
    """Whether oneDNN packs and multiplies bf16 weights on this CPU, tried once per process on a tiny layer.

    oneDNN's bf16 reorder needs AVX512-BW/VL/DQ or AVX-NE-CONVERT; on an AVX2-only CPU (a Zen 1 EPYC) it raises
    instead, and such a CPU must fall back to ``F.linear`` (which ``precision="auto"`` avoids there anyway: bf16
    is ~80x slower on it, but ``precision="bf16"`` may still be asked for)."""
    if not (torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled
            and hasattr(torch.ops.mkldnn, "_linear_pointwise")):
        return False
    try:
        probe = Linear(torch.ones(8, 8, dtype=torch.bfloat16), torch.zeros(8, dtype=torch.bfloat16))
        probe.pack(rows_hint=4)
        return bool(torch.equal(probe(torch.ones(4, 8, dtype=torch.bfloat16)).float(), torch.full((4, 8), 8.0)))
    except RuntimeError:
        return False


class Linear:
    """``y = x W^T + b`` (optionally ``GELU(y)``), W (N, K), b (N,); x (..., K) -> (..., N).

    Args:
        weight, bias: the layer's parameters, already in the precision they run in.
    """

    __slots__ = ("weight", "bias", "packed")

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor):
        self.weight, self.bias = weight.contiguous(), bias.contiguous()
        self.packed: torch.Tensor | None = None

    def to(self, dtype: torch.dtype) -> "Linear":
        return Linear(self.weight.to(dtype), self.bias.to(dtype))

    def pack(self, rows_hint: int) -> None:
        """Packs the weight for oneDNN (``can_pack`` must hold); ``rows_hint``: a typical number of input rows
        (any number works)."""
        self.packed = torch.ops.mkldnn._reorder_linear_weight(self.weight, rows_hint)

    def __call__(self, x: torch.Tensor, gelu: bool = False) -> torch.Tensor:
        if self.packed is not None and not torch.compiler.is_compiling():
            return torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, "gelu" if gelu else "none", [],
                                                      "none" if gelu else "")
        y = F.linear(x, self.weight, self.bias)
        return F.gelu(y) if gelu else y
