"""Opt-in ``torch.compile`` of the planning rollout (``LeWM.compile_rollout = True``; ``lewm-plan --compile``).

The fast rollout (``world_model.fast_rollout``) runs several hundred small kernels per call; inductor fuses the
element-wise work between the products. Measured on a 2-core Zen 4, one thread, 64 candidates x 5 steps: bf16
40.5 -> 29.4 ms (1.38x), fp32 61.0 -> 51.3 ms (1.19x), outputs within 1.9 % (bf16) and 7e-7 (fp32) of eager
(``experiments/bench_compile.py``, ``experiments/results/realtime.md``). The price is the first call for each input
shape: minutes with a cold cache, a few seconds once inductor's on-disk cache holds it. Shapes are static
(``dynamic=False``): one agent on one env sees the same few shapes for its whole life.

Compilation needs a C++ compiler; where it fails, planning goes on with the eager rollout and a warning says why
(never silently, never an error for a speed option).
"""
from __future__ import annotations

import logging
import warnings

import torch

log = logging.getLogger("world_model.compiled_rollout")
RECOMPILE_LIMIT = 64


class CompiledRollout:
    """Calls ``fast.rollout`` through ``torch.compile``; falls back to it, once and for good, if compiling fails.

    Args:
        fast: a ``world_model.fast_rollout.FastRollout``.
    """

    def __init__(self, fast):
        # Each input shape compiles once (an episode's first plans see 1..history_size frames; a batched evaluation
        # sees every batch size); past dynamo's default of 8 compiles per function it would quietly run eager.
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, RECOMPILE_LIMIT)
        self.fast = fast
        self.failed: str | None = None  # why compiling failed, once it has
        self._fn = None

    def __call__(self, z_hist: torch.Tensor, c_hist, c_plan: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
        """Same arguments and result as ``FastRollout.rollout``."""
        if self.failed is None:
            try:
                if self._fn is None:
                    log.info("compiling the planning rollout (the first time on a machine: minutes; then cached)")
                    self._fn = torch.compile(self.fast.rollout, dynamic=False)
                return self._fn(z_hist, c_hist, c_plan, chunk)
            except Exception as e:  # noqa: BLE001 - any compiler failure; a real input error recurs below
                self.failed = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
                warnings.warn(f"torch.compile of the planning rollout failed ({self.failed[:200]}); planning goes on "
                              f"uncompiled (drop --compile to silence this)", RuntimeWarning, stacklevel=2)
        return self.fast.rollout(z_hist, c_hist, c_plan, chunk)


def compiled(fast) -> CompiledRollout:
    """The ``CompiledRollout`` of ``fast``, made once per ``FastRollout`` (which is rebuilt when weights change)."""
    if getattr(fast, "_compiled", None) is None:
        fast._compiled = CompiledRollout(fast)
    return fast._compiled
