"""A goal-image environment whose state is a planar position, reached within a Euclidean radius.

Shared by the point-mass and two-room tasks: ``qpos = (x, y)`` in metres, the goal is a position, and success
means the agent is within ``success_tolerance`` metres of it (a disc, not a square: a per-coordinate test would
accept points up to sqrt(2) times farther away along the diagonals).
"""

from __future__ import annotations

import numpy as np

from envs.goal_env import GoalImageEnv


class PositionGoalEnv(GoalImageEnv):
    """Base for planar-position tasks.

    ``info`` adds ``distance`` (Euclidean distance to the goal position, metres) to the base keys; ``error`` stays
    the per-coordinate ``(|dx|, |dy|)`` in metres, so ``max(info["error"])`` is the L-infinity distance. Success
    (and ``terminated``) is ``info["distance"] <= success_tolerance``. No coordinate is an angle.
    """

    angle_qpos = ()
    error_unit = "m"

    def state_error(self, qpos: np.ndarray, goal_qpos: np.ndarray) -> np.ndarray:
        """Per-coordinate difference ``qpos - goal_qpos``, metres."""
        return np.asarray(qpos, dtype=np.float64) - np.asarray(goal_qpos, dtype=np.float64)

    def goal_distance(self, qpos: np.ndarray, goal_qpos: np.ndarray) -> float:
        """Euclidean distance between a position and the goal position, metres."""
        return float(np.linalg.norm(self.state_error(qpos, goal_qpos)))

    def is_success(self, qpos: np.ndarray, goal_qpos: np.ndarray) -> bool:
        return self.goal_distance(qpos, goal_qpos) <= self.success_tolerance

    def _info(self) -> dict:
        info = super()._info()
        info["distance"] = self.goal_distance(info["qpos"], info["goal_qpos"])
        return info
