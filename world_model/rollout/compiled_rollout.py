"""Opt-in ``torch.compile`` of the planning rollout (``LeWM.compile_rollout = True``; ``lewm-plan --compile``).

The fast rollout (``world_model.rollout.fast_rollout``) runs several hundred small kernels per call; inductor fuses the
element-wise work between the products. Measured on a 2-core Zen 4, one thread, 64 candidates x 5 steps: bf16
40.5 -> 29.4 ms (1.38x), fp32 61.0 -> 51.3 ms (1.19x), outputs within 1.9 % (bf16) and 7e-7 (fp32) of eager
(``experiments/bench/bench_compile.py``, ``experiments/bench/realtime.md``). The price is the first call for each input
shape: minutes with a cold cache, a few seconds once inductor's on-disk cache holds it. Shapes are static
(``dynamic=False``): one agent on one env sees the same few shapes for its whole life.

Where the candidates are split over CPU worker threads (``common.cpu_threads``: 128+ bf16 candidates), the
per-span rollout is compiled instead and each worker runs the compiled graph; a call whose shapes were not compiled
yet runs its spans on the caller's thread (compiling them there), later calls on the workers. Measured on the same
CPU, reacher model, 300 candidates x 5 steps, bf16: 67.2 ms eager split over two workers, 54.3 ms compiled and split
(1.24x), 84.6 ms compiled on one thread of two OpenMP threads (``experiments/bench/planning_speed.md``).

Compilation needs a C++ compiler; where it fails, planning goes on with the eager rollout and a warning says why
(never silently, never an error for a speed option).
"""
from __future__ import annotations

import logging
import warnings

import torch

log = logging.getLogger("world_model.rollout.compiled_rollout")
RECOMPILE_LIMIT = 64


class CompiledRollout:
    """Calls ``fast.rollout`` through ``torch.compile``; falls back to it, once and for good, if compiling fails.

    Args:
        fast: a ``world_model.rollout.fast_rollout.FastRollout``.
    """

    def __init__(self, fast):
        # Each input shape compiles once (an episode's first plans see 1..history_size frames; a batched evaluation
        # sees every batch size); past dynamo's default of 8 compiles per function it would quietly run eager.
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, RECOMPILE_LIMIT)
        self.fast = fast
        self.failed: str | None = None  # why compiling failed, once it has
        self._fn = None
        self._rows = None  # the compiled per-span rollout, for calls split over worker threads
        self._split_shapes: set = set()  # (z_hist shape, c_plan shape, chunk, workers) of split calls run once

    def __call__(self, z_hist: torch.Tensor, c_hist, c_plan: torch.Tensor, chunk: int | None = None,
                 workers: int = 1) -> torch.Tensor:
        """Same arguments and result as ``FastRollout.rollout``."""
        if self.failed is None:
            try:
                if workers >= 2:
                    if self._rows is None:
                        self._rows = torch.compile(self.fast._rollout_rows, dynamic=False)
                    # These shapes fix the spans' shapes: the first call with them compiles on this thread.
                    shapes = (tuple(z_hist.shape), tuple(c_plan.shape), chunk, workers)
                    serial = shapes not in self._split_shapes
                    out = self.fast.rollout(z_hist, c_hist, c_plan, chunk, workers, rows_fn=self._rows, serial=serial)
                    self._split_shapes.add(shapes)
                    return out
                if self._fn is None:
                    log.info("compiling the planning rollout (the first time on a machine: minutes; then cached)")
                    self._fn = torch.compile(self.fast.rollout, dynamic=False)
                return self._fn(z_hist, c_hist, c_plan, chunk)
            except Exception as e:  # noqa: BLE001 - any compiler failure; a real input error recurs below
                self.failed = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
                warnings.warn(f"torch.compile of the planning rollout failed ({self.failed[:200]}); planning goes on "
                              f"uncompiled (drop --compile to silence this)", RuntimeWarning, stacklevel=2)
        return self.fast.rollout(z_hist, c_hist, c_plan, chunk, workers)


def compiled(fast) -> CompiledRollout:
    """The ``CompiledRollout`` of ``fast``, made once per ``FastRollout`` (which is rebuilt when weights change)."""
    if getattr(fast, "_compiled", None) is None:
        fast._compiled = CompiledRollout(fast)
    return fast._compiled
