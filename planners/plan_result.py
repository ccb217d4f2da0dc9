"""What a plan call returns, and where planners run."""

from __future__ import annotations

from dataclasses import dataclass

import torch


def resolve_device(device: str | torch.device) -> torch.device:
    """Turn ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"auto"`` or a ``torch.device`` into a ``torch.device``.

    ``"auto"`` picks CUDA when it is available and the CPU otherwise.
    """
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@dataclass
class PlanResult:
    """What :meth:`SamplingPlanner.plan` returns. All tensors live on the planner's device.

    Attributes:
        actions: ``(B, H, A)`` the plan to execute: the final mean of the sampling distribution, inside the box.
            The same tensor as ``mean``.
        costs: ``(B,)`` cost of ``actions``, in the cost function's units. With ``eval_final=True`` (default) it
            is measured by one extra cost call on the returned plan. With ``eval_final=False`` it is the cost of
            candidate 0 of the last iteration, i.e. of the mean *before* the last refit.
        mean: ``(B, H, A)`` final mean of the sampling distribution.
        std: ``(B, H, A)`` final standard deviation of the sampling distribution.
        history: ``(n_iters, B)`` mean cost of the elites at each iteration, or ``None`` unless
            ``plan(..., return_history=True)``.
    """

    actions: torch.Tensor
    costs: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor
    history: torch.Tensor | None = None
