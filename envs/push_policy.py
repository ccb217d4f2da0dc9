"""The Push-T data policy: scripted pushes of the T from every side, with random wandering between them.

A world model learns contact only from data with contact in it. Random relative actions rarely touch the block,
so this policy repeats one cycle: pick a push direction, walk the pusher round the block to a point behind it on
that side, push through the block's centre for a random distance, then start again. Push directions are uniform,
except that a block near a wall is pushed back towards the middle of the table (a T pinned to a wall stops
moving). Each cycle has its own speed limit, and every action gets Gaussian noise, so the data cover slow and
fast pushes, glancing and straight ones. Reads ``info["qpos"]`` (agent x, y, block x, y, angle; px, rad).
"""

from __future__ import annotations

import numpy as np

from envs.pusht import ACTION_SCALE, CANVAS, block_centre

WALL_MARGIN = 130.0  # px: a block centre this close to a wall is pushed back towards the middle
REACHED = 15.0  # px: a waypoint counts as reached this close


class PushPolicy:
    """Scripted pushing for ``lewm/PushT-v0`` (see the module docstring).

    Args:
        action_dim: size of the action vector (2).
        rng: the generator that makes the episode reproducible.
        noise: std of the Gaussian noise added to every action (action units: 100 px of target offset).
        wander_prob: chance that a cycle is a stretch of held random actions instead of a push.
        ring: (min, max) distance in px behind the block's centre where a push starts.
        travel: (min, max) distance in px the pusher aims past the block's centre.
        speed: (min, max) of a cycle's largest action, drawn per cycle.
        leg_timeout: env steps after which a walk or a push is given up.
    """

    name = "push"
    tasks: tuple[str, ...] | None = ("pusht",)

    def __init__(self, action_dim: int, rng: np.random.Generator, noise: float = 0.1, wander_prob: float = 0.15,
                 ring=(70.0, 110.0), travel=(60.0, 160.0), speed=(0.1, 0.4), leg_timeout: int = 30):
        if action_dim != 2:
            raise ValueError(f"the push policy drives a 2-D pusher, got action_dim {action_dim}")
        self.rng, self.noise, self.wander_prob = rng, float(noise), float(wander_prob)
        self.ring, self.travel, self.speed, self.leg_timeout = ring, travel, speed, int(leg_timeout)
        self._route: list[np.ndarray] = []
        self._wander: list[np.ndarray] = []
        self._limit = 1.0
        self._leg_steps = 0

    def _direction(self, centre: np.ndarray) -> np.ndarray:
        """A unit push direction: uniform, or towards the table's middle (+-70 deg) for a block near a wall."""
        near_wall = np.any(centre < WALL_MARGIN) or np.any(centre > CANVAS - WALL_MARGIN)
        if near_wall:
            inward = np.arctan2(CANVAS / 2 - centre[1], CANVAS / 2 - centre[0])
            angle = inward + self.rng.uniform(-np.radians(70), np.radians(70))
        else:
            angle = self.rng.uniform(-np.pi, np.pi)
        return np.array([np.cos(angle), np.sin(angle)])

    def _new_cycle(self, qpos: np.ndarray) -> None:
        self._limit = float(self.rng.uniform(*self.speed))
        self._leg_steps = 0
        if self.rng.random() < self.wander_prob:
            hold = self.rng.integers(1, 5, size=int(self.rng.integers(1, 4)))
            self._wander = [a for h in hold for a in [self.rng.uniform(-self._limit, self._limit, 2)] * int(h)]
            self._route = []
            return
        centre = block_centre(qpos)
        d = self._direction(centre)
        start = centre - d * self.rng.uniform(*self.ring)
        route = [start, centre + d * self.rng.uniform(*self.travel)]
        agent = np.asarray(qpos[:2], np.float64)
        # Walk round the block, not through it: if the straight walk to the start passes near the centre, go
        # first to a point beside the block on the pusher's side.
        to_start = start - agent
        t = np.clip(np.dot(centre - agent, to_start) / max(np.dot(to_start, to_start), 1e-9), 0.0, 1.0)
        if np.linalg.norm(agent + t * to_start - centre) < 70.0:
            side = np.array([-d[1], d[0]])
            side = side if np.dot(agent - centre, side) >= 0 else -side
            route.insert(0, centre + side * 120.0)
        self._route = [np.clip(p, 25.0, CANVAS - 25.0) for p in route]

    def __call__(self, obs=None, info=None) -> np.ndarray:
        """Returns the next action, float32 (2,); needs ``info["qpos"]``."""
        if info is None or "qpos" not in info:
            raise ValueError("the push policy needs the state: call it as policy(obs, info)")
        qpos = np.asarray(info["qpos"], dtype=np.float64)
        if self._wander:
            return np.clip(self._wander.pop(0) + self.rng.normal(0, self.noise, 2), -1, 1).astype(np.float32)
        agent = qpos[:2]
        while self._route and (np.linalg.norm(self._route[0] - agent) < REACHED
                               or self._leg_steps >= self.leg_timeout):
            self._route.pop(0)
            self._leg_steps = 0
        if not self._route:
            self._new_cycle(qpos)
            return self.__call__(obs, info)
        self._leg_steps += 1
        action = np.clip((self._route[0] - agent) / ACTION_SCALE, -self._limit, self._limit)
        return np.clip(action + self.rng.normal(0, self.noise, 2), -1, 1).astype(np.float32)


class PushTurnPolicy(PushPolicy):
    """Push-T's second data policy: longer, faster pushes, many of them off the block's centre so that it turns.

    The ``push`` policy pushes through the block's centre at up to 0.4 of the action box and carries it
    60-160 px, so its data hold few fast moves and few turns. This one draws each push's line at a random
    perpendicular offset from the centre (``offset`` px, either side; an offset push turns the T as it moves it),
    carries the pusher 100-280 px past the centre at up to 0.9 of the box, and wanders less. Mixed with ``push``
    it widens what the world model has seen without losing the slow, straight pushes.

    Args: as :class:`PushPolicy`, plus ``offset``: (min, max) |perpendicular offset| in px of a push's line from
    the block's centre (0 keeps a push straight; ``straight_prob`` of the pushes use 0).
    """

    name = "push_turn"

    def __init__(self, action_dim: int, rng: np.random.Generator, noise: float = 0.1, wander_prob: float = 0.05,
                 ring=(70.0, 110.0), travel=(100.0, 280.0), speed=(0.2, 0.9), leg_timeout: int = 40,
                 offset=(15.0, 50.0), straight_prob: float = 0.25):
        super().__init__(action_dim, rng, noise=noise, wander_prob=wander_prob, ring=ring, travel=travel,
                         speed=speed, leg_timeout=leg_timeout)
        self.offset, self.straight_prob = offset, float(straight_prob)

    def _new_cycle(self, qpos: np.ndarray) -> None:
        super()._new_cycle(qpos)
        if not self._route or self.rng.random() < self.straight_prob:
            return
        push_start, push_end = self._route[-2], self._route[-1]
        d = push_end - push_start
        d = d / max(np.linalg.norm(d), 1e-9)
        shift = np.array([-d[1], d[0]]) * self.rng.uniform(*self.offset) * self.rng.choice([-1.0, 1.0])
        self._route[-2:] = [np.clip(p + shift, 25.0, CANVAS - 25.0) for p in (push_start, push_end)]


class FastPushPolicy(PushPolicy):
    """Straight pushes near full speed, carried far, with little noise: for evaluation pairs, not for training.

    Drawn start/goal pairs from a policy the model was never trained on tell whether it generalises. This one
    pushes through the centre at 0.5-1.0 of the action box and carries the block 160-300 px, beyond both
    training policies' typical move in 25 steps.
    """

    name = "push_fast"

    def __init__(self, action_dim: int, rng: np.random.Generator, noise: float = 0.05, wander_prob: float = 0.0,
                 ring=(70.0, 110.0), travel=(160.0, 300.0), speed=(0.5, 1.0), leg_timeout: int = 40):
        super().__init__(action_dim, rng, noise=noise, wander_prob=wander_prob, ring=ring, travel=travel,
                         speed=speed, leg_timeout=leg_timeout)
