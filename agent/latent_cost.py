"""The planner's cost: how far a candidate plan's predicted embeddings end from the goal embedding."""

from __future__ import annotations

from typing import Callable

import torch


def latent_goal_cost(world_model, z_hist: torch.Tensor, a_hist: torch.Tensor | None, target: torch.Tensor,
                     terminal: bool, precision_context: Callable) -> Callable[[torch.Tensor], torch.Tensor]:
    """Cost of candidate plans (B, N, H, A_block) -> (B, N) for histories z_hist (B, Th, D), a_hist
    (B, Th-1, A_block) or None, and targets (B or 1, D).

    The cost is the squared latent distance to the target, averaged over the H predicted steps (``terminal``:
    the last step only, the LeWM paper's cost). ``precision_context()`` wraps the rollout (e.g. bf16 autocast).
    """
    device = z_hist.device
    goal = target.expand(z_hist.shape[0], -1)[:, None, None]  # (B, 1, 1, D)

    def cost(candidates: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode(), precision_context():
            z = world_model.rollout(z_hist, a_hist, candidates.to(device))
        dist = (z.float() - goal).pow(2).sum(-1)  # (B, N, H)
        return dist[..., -1] if terminal else dist.mean(-1)

    return cost
