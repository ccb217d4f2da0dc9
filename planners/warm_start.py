"""Warm starting: reuse the unexecuted tail of the previous plan as the next initial mean."""

from __future__ import annotations

import torch


def shift_plan(plan: torch.Tensor, steps: int, fill: float | torch.Tensor = 0.0) -> torch.Tensor:
    """Drop the first ``steps`` executed blocks of ``plan``, move the rest forward and pad the end.

    ``shift_plan(p, 2)[:, t] == p[:, t + 2]`` for ``t < H - 2``; the last 2 blocks are ``fill``.
    With ``steps >= H`` the whole result is ``fill``; with ``steps == 0`` it is a copy of ``plan``.

    Args:
        plan: ``(B, H, A)`` previous plan (e.g. ``PlanResult.actions``).
        steps: number of blocks already executed (>= 0).
        fill: value of the new last blocks: a float, or a tensor of shape ``(A,)``, ``(B, A)`` or
            ``(B, min(steps, H), A)``.

    Returns:
        A new ``(B, H, A)`` tensor, same dtype and device as ``plan``.
    """
    if plan.ndim != 3:
        raise ValueError(f"plan must have shape (B, H, A), got {tuple(plan.shape)}")
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    horizon = plan.shape[1]
    steps = min(steps, horizon)
    out = torch.empty_like(plan)
    out[:, : horizon - steps] = plan[:, steps:]
    if isinstance(fill, torch.Tensor) and fill.ndim == 2:
        fill = fill[:, None]  # (B, A) -> (B, 1, A), repeated over the padded blocks
    out[:, horizon - steps:] = fill
    return out
