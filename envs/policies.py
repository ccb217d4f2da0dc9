"""Data-collection policies: how the arm is driven while recording training data."""

from __future__ import annotations

import numpy as np


class HeldRandomPolicy:
    """Temporally correlated random actions: a uniform action in the box, held for a random number of steps.

    iid uniform actions average out and barely move the arm; holding each action for 1..``max_hold`` env steps
    (uniformly) lets velocities build up, so episodes sweep the joint space. Stateless apart from the hold.

    Args:
        action_dim: size of the action vector.
        rng: the generator that makes the episode reproducible.
        min_hold, max_hold: the hold length range, in env steps (inclusive).
        low, high: the action box.
    """

    name = "held_random"

    def __init__(self, action_dim: int, rng: np.random.Generator, min_hold: int = 1, max_hold: int = 10,
                 low: float = -1.0, high: float = 1.0):
        if not 1 <= min_hold <= max_hold:
            raise ValueError(f"need 1 <= min_hold <= max_hold, got {min_hold}, {max_hold}")
        self.action_dim, self.rng = action_dim, rng
        self.min_hold, self.max_hold, self.low, self.high = min_hold, max_hold, low, high
        self._action = np.zeros(action_dim, np.float32)
        self._left = 0

    def __call__(self, obs=None) -> np.ndarray:
        """Returns the next action, float32 (action_dim,)."""
        if self._left == 0:
            self._action = self.rng.uniform(self.low, self.high, self.action_dim).astype(np.float32)
            self._left = int(self.rng.integers(self.min_hold, self.max_hold + 1))
        self._left -= 1
        return self._action.copy()
