"""A high level guided by the goal value: aim at the data frame within reach that is nearest the goal in moves.

The waypoint graph (``agent.waypoints``) finds the way to a far goal by a shortest-path search over the data's
embeddings, with per-task link and reach settings. With a goal value (``world_model.policies.value``) no search is
needed: the value already says how many action blocks each data frame is from the goal. At each replan the agent aims at
the frame, among those within ``reach`` of its current embedding, with the fewest blocks left to the goal; once
the goal itself is within ``goal_blocks`` by the value, at the goal. The same two settings serve every task.

Costs: the frames' values to a goal are computed once per goal (M evaluations); a replan costs one latent
distance per frame (as the graph does) and one value evaluation for the goal.
"""
from __future__ import annotations

import hashlib

import torch

from agent.waypoints import normalised_sq_distance


class ValueSubgoals:
    """Subgoals from data frames ranked by a goal value (see the module docstring).

    Args:
        value: a ``world_model.policies.value.GoalValue`` for the model's embeddings.
        nodes: (M, D) embeddings of data frames (e.g. a waypoint file's nodes).
        reach: latent distance (squared Euclidean over ``2 D``) under which a frame is within reach.
        goal_blocks: the value (action blocks) under which the agent aims at the goal itself.
    """

    def __init__(self, value, nodes: torch.Tensor, reach: float = 0.5, goal_blocks: float = 3.0):
        if not nodes.ndim == 2 or len(nodes) == 0:
            raise ValueError(f"nodes must be a non-empty (M, D) array, got shape {tuple(nodes.shape)}")
        if not reach > 0 or not goal_blocks >= 0:
            raise ValueError(f"reach must be positive and goal_blocks at least 0, got {reach} and {goal_blocks}")
        self.value, self.nodes = value, nodes.float()
        self.reach, self.goal_blocks = float(reach), float(goal_blocks)
        self._to_goal: dict[str, torch.Tensor] = {}

    def reset(self) -> None:
        """Forgets the per-goal values (a new set of goals)."""
        self._to_goal.clear()

    @torch.inference_mode()
    def _blocks_to_goal(self, goal: torch.Tensor) -> torch.Tensor:
        """(M,) value of every frame to ``goal`` (D,), cached per goal."""
        key = hashlib.sha1(goal.float().cpu().numpy().tobytes()).hexdigest()
        if key not in self._to_goal:
            param = next(self.value.parameters())
            self._to_goal[key] = self.value(self.nodes.to(param), goal.to(param)[None]).float().cpu()
        return self._to_goal[key]

    @torch.inference_mode()
    def subgoals(self, current: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        """The agent's call: (N, D) current embeddings, (N or 1, D) goals -> (N, D) targets, in the goal's device
        and dtype."""
        param = next(self.value.parameters())
        goals = goal.expand(current.shape[0], -1)
        direct = self.value(current.to(param), goals.to(param)).float().cpu()  # (N,)
        apart = normalised_sq_distance(current.cpu(), self.nodes)  # (N, M)
        targets = goals.clone()
        for i in range(current.shape[0]):
            if direct[i] <= self.goal_blocks:
                continue
            left = self._blocks_to_goal(goals[i])
            candidates = torch.where(apart[i] <= self.reach, left, torch.full_like(left, float("inf")))
            if torch.isinf(candidates).all():  # nothing within reach: the frame nearest in latent space
                candidates = apart[i]
            best = int(torch.argmin(candidates))
            if left[best] < direct[i]:  # a frame on the way, not one farther than the goal is now
                targets[i] = self.nodes[best].to(targets)
        return targets.to(device=goal.device, dtype=goal.dtype)
