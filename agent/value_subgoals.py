"""A high level guided by the goal value: aim at the data frame within a few moves that is nearest the goal in moves.

The waypoint graph (``agent.waypoints``) finds the way to a far goal by a shortest-path search over the data's
embeddings, with per-task link and reach settings. With a goal value (``world_model.policies.value``) no search is
needed: the value already says how many action blocks each data frame is from the goal, and how many from here.
At each replan the agent aims at the frame, among those the value puts within ``reach`` blocks of its current
embedding, with the fewest blocks left to the goal; once the value puts the goal itself within ``goal_blocks``, at
the goal. With ``far`` set, only a goal the value puts over ``far`` blocks away when the agent first sees it gets
subgoals at all; a nearer one is the low level's alone, all the way (on the cube, subgoals cost near goals a few
points: the low level reaches them better straight). The settings are in action blocks, so the same ones serve
every task.

This is HIQL's high level (a subgoal a few steps ahead that gains most by the value) with the subgoal picked among
real embeddings of the data instead of regressed: a regressed subgoal is the mean of where the data went, which
on the cube is no frame with the gripper closing on the cube. On OGBench's five cube tasks the reach is what the
proposal policy can follow: handed the noiseless oracle's own frames one block ahead, it solves 11/20.

Costs: the frames' values to a goal are computed once per goal (M evaluations); a replan ranks the ``candidates``
frames nearest the current embedding in latent space (one latent distance per frame) by the value from here
(``candidates`` value evaluations per env).
"""
from __future__ import annotations

import hashlib

import torch

from agent.waypoints import normalised_sq_distance


class ValueSubgoals:
    """Subgoals from data frames ranked by a goal value (see the module docstring).

    Args:
        value: a ``world_model.policies.value.GoalValue`` for the model's embeddings: ``value(z, g)`` blocks.
        nodes: (M, D) embeddings of data frames (``agent.subgoal_frames``, or a waypoint file's nodes).
        reach: blocks, by the value from the current embedding, within which a frame may be the next subgoal.
        goal_blocks: blocks, by the value, under which the agent aims at the goal itself.
        candidates: how many frames nearest the current embedding (latent distance) the value ranks at a replan;
            bounds a replan's cost when ``M`` is large.
        far: blocks, by the value when a goal is first seen, over which that goal gets subgoals; None: every goal.
    """

    def __init__(self, value, nodes: torch.Tensor, reach: float = 3.0, goal_blocks: float = 3.0,
                 candidates: int = 4096, far: float | None = None):
        if not nodes.ndim == 2 or len(nodes) == 0:
            raise ValueError(f"nodes must be a non-empty (M, D) array, got shape {tuple(nodes.shape)}")
        if not reach > 0 or not goal_blocks >= 0:
            raise ValueError(f"reach must be positive and goal_blocks at least 0, got {reach} and {goal_blocks}")
        if candidates < 1:
            raise ValueError(f"candidates must be at least 1, got {candidates}")
        if far is not None and not far >= 0:
            raise ValueError(f"far must be at least 0 (or None), got {far}")
        self.value, self.nodes = value, nodes.float()
        self.reach, self.goal_blocks, self.candidates = float(reach), float(goal_blocks), int(candidates)
        self.far = None if far is None else float(far)
        self._to_goal: dict[str, torch.Tensor] = {}
        self._gets_subgoals: dict[str, bool] = {}  # per goal seen since the last reset, decided at first sight

    def reset(self) -> None:
        """Forgets the per-goal values and which goals were near (a new set of goals)."""
        self._to_goal.clear()
        self._gets_subgoals.clear()

    @staticmethod
    def _key(goal: torch.Tensor) -> str:
        return hashlib.sha1(goal.float().cpu().numpy().tobytes()).hexdigest()

    def _param(self) -> torch.Tensor:
        return next(self.value.parameters())

    @torch.inference_mode()
    def _blocks_to_goal(self, goal: torch.Tensor, key: str) -> torch.Tensor:
        """(M,) value of every frame to ``goal`` (D,), cached per goal under its ``key`` (:meth:`_key`)."""
        if key not in self._to_goal:
            param = self._param()
            self._to_goal[key] = self.value(self.nodes.to(param), goal.to(param)[None]).float().cpu()
        return self._to_goal[key]

    @torch.inference_mode()
    def subgoals(self, current: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        """The agent's call: (N, D) current embeddings, (N or 1, D) goals -> (N, D) targets, in the goal's device
        and dtype."""
        param = self._param()
        here = current.float().cpu()
        goals = goal.float().cpu().expand(here.shape[0], -1)
        direct = self.value(here.to(param), goals.to(param)).float().cpu()  # (N,) blocks from here to the goal
        targets = goals.clone()
        keys = [self._key(g) for g in goals]
        for key, blocks in zip(keys, direct.tolist()):  # first sight of a goal decides whether it gets subgoals
            self._gets_subgoals.setdefault(key, self.far is None or blocks > self.far)
        far = [i for i in (direct > self.goal_blocks).nonzero().flatten().tolist() if self._gets_subgoals[keys[i]]]
        if not far:
            return targets.to(device=goal.device, dtype=goal.dtype)
        k = min(self.candidates, len(self.nodes))
        near = torch.topk(normalised_sq_distance(here[far], self.nodes), k, largest=False).indices  # (F, k)
        frames = self.nodes[near]  # (F, k, D)
        from_here = self.value(here[far, None].expand_as(frames).to(param), frames.to(param)).float().cpu()
        for row, i in enumerate(far):
            left = self._blocks_to_goal(goals[i], keys[i])[near[row]]  # (k,)
            left = torch.where(from_here[row] <= self.reach, left, torch.full_like(left, float("inf")))
            best = int(torch.argmin(left))
            if left[best] < direct[i]:  # a frame on the way, not one farther than the goal is now
                targets[i] = frames[row, best]
        return targets.to(device=goal.device, dtype=goal.dtype)
