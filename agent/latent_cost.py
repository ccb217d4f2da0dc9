"""The planner's cost: how far a candidate plan's predicted embeddings end from the goal embedding."""

from __future__ import annotations

from typing import Callable

import torch


COSTS = ("all", "terminal", "readout", "min", "value", "value_far", "value_readout")
VALUE_COSTS = ("value", "value_far", "value_readout")  # the costs that need a goal value
READOUT_COSTS = ("readout", "value_readout")  # the costs that need a state readout
# Costs "value_far" and "value_readout": an env whose goal the value puts further than this many action blocks away
# ranks plans by the value, a nearer one by the nearest predicted step ("min", or its readout twin). The LeWM
# protocol's goals are 5 blocks ahead.
VALUE_FAR_BLOCKS = 8.0


def latent_goal_cost(world_model, z_hist: torch.Tensor, a_hist: torch.Tensor | None, target: torch.Tensor,
                     kind: str, precision_context: Callable, value=None, success_qpos=None,
                     state_probe=None) -> Callable[[torch.Tensor], torch.Tensor]:
    """Cost of candidate plans (B, N, H, A_block) -> (B, N) for histories z_hist (B, Th, D), a_hist
    (B, Th-1, A_block) or None, and targets (B or 1, D).

    ``kind`` "all": the squared latent distance to the target, averaged over the H predicted steps; "terminal":
    the last step only (the LeWM paper's cost); "readout": as "all", with both sides first mapped through the
    model's state readout (``state_lambda``; z-scored state units), so every part of the state the readout names
    weighs alike, whatever share of the latent it takes; "min": the nearest of the H predicted steps (a plan
    counts by the best moment it passes, as a success does when an episode stops on it); "value": the action
    blocks to the goal by the learned goal value ``value`` (``world_model.policies.value.GoalValue``),
    ``min_h (h + d(z_h, g))``: the blocks the plan takes to its best point plus the value's estimate of the rest;
    "value_far": per env, "value" while the value puts the goal more than ``VALUE_FAR_BLOCKS`` blocks from the
    latest embedding, "min" once it is nearer (the value ranks far goals, the latent distance the last pixels);
    "value_readout": as "value_far", with the near goals ranked by the nearest predicted step in the readout's units
    of the entries ``success_qpos`` names (as "value_far" where it names none).
    ``success_qpos``: the qpos indices the task's success test reads (``Task.success_qpos``); the readout costs
    count only the readout targets of those entries (None or empty: all), read through ``state_probe``
    (``world_model.policies.state_probe``) where given, else the model's linear readout. ``precision_context()``
    wraps the rollout.
    """
    device = z_hist.device
    targets = target.expand(z_hist.shape[0], -1)
    if kind in ("value_far", "value_readout"):
        # Where the success test reads every entry, the latent distance counts them all, and measured better than
        # the readout over all of them (Push-T's pose test: docs/planning.md).
        near = "readout_min" if kind == "value_readout" and success_qpos else "min"
        distance = far_value_distance(world_model, z_hist[:, -1], targets, value, near, success_qpos, state_probe)
    else:
        distance = goal_distance(world_model, targets, kind, value, success_qpos, state_probe)

    def cost(candidates: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode(), precision_context():
            z = world_model.rollout(z_hist, a_hist, candidates.to(device)).float()
        return distance(z)

    return cost


def goal_distance(world_model, target: torch.Tensor, kind: str, value=None, success_qpos=None, state_probe=None
                  ) -> Callable[[torch.Tensor], torch.Tensor]:
    """The cost ``kind`` of predicted embeddings (B, N, H, D) -> (B, N) against targets (B, D) (differentiable;
    see :func:`latent_goal_cost`; "readout_min": the nearest predicted step in the readout's units, the near half
    of "value_readout"; "value_far" and "value_readout" need the current embedding: :func:`far_value_distance`)."""
    if kind in ("value_far", "value_readout"):
        raise ValueError(f"cost {kind!r} ranks by the current embedding too: build it with far_value_distance")
    if kind == "value":
        return value_distance(value, target)
    space = readout_map(world_model, success_qpos, state_probe) if kind in ("readout", "readout_min") else None
    goal = target[:, None, None].float()  # (B, 1, 1, D)
    if space is not None:
        goal = space(goal)

    def distance(z: torch.Tensor) -> torch.Tensor:
        dist = ((z if space is None else space(z)) - goal).pow(2).sum(-1)  # (B, N, H)
        if kind == "terminal":
            return dist[..., -1]
        return dist.min(-1).values if kind in ("min", "readout_min") else dist.mean(-1)

    return distance


def readout_map(world_model, success_qpos=None, state_probe=None) -> Callable[[torch.Tensor], torch.Tensor]:
    """The model's state readout as a float32 map (..., D) -> (..., K'), keeping the K' of its K targets that read
    the qpos indices ``success_qpos`` (None or empty: all K); through ``state_probe`` (an MLP predicting the same
    targets) where given, else the linear head. ValueError for a model trained without a readout, or for indices
    that name none of its targets."""
    head = getattr(world_model, "state_head", None)
    if head is None:
        raise ValueError("the readout costs need a model trained with a state readout (state_lambda > 0); this one "
                         "has none: use cost 'all' or 'value_far'")
    weight, bias = head.affine()
    if success_qpos:
        reads = head.target_qpos()
        keep = [k for k, q in enumerate(reads) if q in {int(i) for i in success_qpos}]
        if not keep:
            raise ValueError(f"success_qpos {list(success_qpos)} names no entry of the model's state readout, which "
                             f"reads qpos 0-{max(reads)}")
        weight, bias = weight[keep], bias[keep]
    else:
        keep = slice(None)
    if state_probe is not None:
        dtype = next(state_probe.parameters()).dtype
        return lambda z: state_probe(z.to(dtype)).float()[..., keep]
    return lambda z: torch.nn.functional.linear(z, weight, bias)


def value_distance(value, target: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """Cost "value": predicted embeddings (B, N, H, D) -> (B, N) blocks, ``min_h (h + 1 + d(z_h, g))`` with the
    goal value ``value`` (``world_model.policies.value.GoalValue``); targets (B, D)."""
    if value is None:
        raise ValueError("cost 'value' needs a goal value (value.safetensors, lewm-train-value); this agent has "
                         "none: use cost 'all'")
    goal = target[:, None, None].float()  # (B, 1, 1, D)

    def distance(z: torch.Tensor) -> torch.Tensor:
        blocks = value_blocks(value, z, goal)  # (B, N, H)
        ahead = torch.arange(1, z.shape[2] + 1, device=z.device, dtype=blocks.dtype)
        return (blocks + ahead).min(-1).values

    return distance


def value_blocks(value, z: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
    """The goal value's action blocks from embeddings ``z`` (..., D) to goals ``goal`` (broadcastable), float32
    (...), run in the value's own dtype."""
    dtype = next(value.parameters()).dtype
    return value(z.to(dtype), goal.to(dtype)).float()


def far_value_distance(world_model, z_now: torch.Tensor, target: torch.Tensor, value, near: str = "min",
                       success_qpos=None, state_probe=None) -> Callable:
    """Costs "value_far" and "value_readout": per env, :func:`value_distance` where the value puts the goal more
    than ``VALUE_FAR_BLOCKS`` blocks from ``z_now`` (B, D), else the ``near`` distance ("min", or "readout_min" over
    ``success_qpos``, through ``state_probe`` where given); targets (B, D). Each env's candidates are ranked by one
    cost (the planners' temperatures are relative to a row's own spread)."""
    far_cost = value_distance(value, target)
    near_cost = goal_distance(world_model, target, near, success_qpos=success_qpos, state_probe=state_probe)
    with torch.inference_mode():
        far = value_blocks(value, z_now, target) > VALUE_FAR_BLOCKS  # (B,)

    def distance(z: torch.Tensor) -> torch.Tensor:
        return torch.where(far[:, None], far_cost(z), near_cost(z))

    return distance
