"""Gradient refinement: a few first-order steps on the planner's answer, through the differentiable world model.

A sampling planner ranks a few hundred candidates and keeps a mean of the best; late iterations rank almost at
noise (DA-LeWM, arXiv 2608.18746), so the last few pixels of precision are left on the table. The world model is
differentiable in its actions, so the plan the search returns can be polished by descending the same latent cost:
LEAP (arXiv 2609.03294) follows an MLP proposal with 10 L-BFGS steps on a frozen LeWM. Here the step is Adam's
(per-coordinate scale suits the normalised action units), projected back onto the action box after each step, and
the plan with the lowest cost seen is kept per problem, so refinement never returns a plan the model scores worse
than the search's.
"""

from __future__ import annotations

import torch

from agent.latent_cost import goal_distance


def refine_plan(world_model, z_hist: torch.Tensor, a_hist: torch.Tensor | None, target: torch.Tensor,
                plan: torch.Tensor, low: torch.Tensor, high: torch.Tensor, steps: int, lr: float,
                kind: str = "all", success_qpos=None, state_probe=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Refines one plan per problem by ``steps`` projected Adam steps on the latent goal cost.

    Args:
        world_model: a LeWM in eval mode (its weights are not changed and get no gradients).
        z_hist: (B, Th, D) history embeddings; a_hist: (B, Th-1, A_block) normalised history actions or None.
        target: (B or 1, D) goal (or waypoint) embeddings.
        plan: (B, H, A_block) the planner's plan, normalised action units.
        low, high: (A_block,) the action box in the same units.
        steps: gradient steps (>= 1); the cost is evaluated steps + 1 times, each a forward and (but the last) a
            backward pass of one rollout per problem.
        lr: Adam's step size, in normalised action units.
        kind: the cost (``agent.latent_cost.COSTS``); success_qpos, state_probe: what its readout counts and reads
            through (``agent.latent_cost.readout_map``).

    Returns:
        (plan (B, H, A_block), cost (B,)): per problem the lowest-cost plan seen (the input plan included) and its
        cost, in float32.
    """
    if steps < 1 or not lr > 0:
        raise ValueError(f"refinement needs steps >= 1 and lr > 0, got steps={steps}, lr={lr}")
    # Clones leave inference mode: tensors made under it cannot take part in a backward pass.
    z_hist = z_hist.detach().float().clone()
    a_hist = None if a_hist is None else a_hist.detach().float().clone()
    distance = goal_distance(world_model, target.detach().float().clone().expand(z_hist.shape[0], -1), kind,
                             success_qpos=success_qpos, state_probe=state_probe)
    low, high = low.to(plan.device, torch.float32), high.to(plan.device, torch.float32)
    x = plan.detach().float().clone().requires_grad_(True)
    optimiser = torch.optim.Adam([x], lr=lr)
    best, best_cost = x.detach().clone(), torch.full((x.shape[0],), float("inf"), device=x.device)
    device_type = x.device.type
    with torch.enable_grad(), torch.autocast(device_type, enabled=False):
        for step in range(steps + 1):
            cost = distance(world_model.rollout(z_hist, a_hist, x[:, None]))[:, 0]  # (B,)
            better = cost.detach() < best_cost
            best[better], best_cost[better] = x.detach()[better], cost.detach()[better]
            if step == steps:
                break
            # Gradients for the plan only: the model's weights need none.
            (x.grad,) = torch.autograd.grad(cost.sum(), [x])
            optimiser.step()
            with torch.no_grad():
                x.copy_(torch.maximum(torch.minimum(x, high), low))
    return best.to(plan.dtype), best_cost
