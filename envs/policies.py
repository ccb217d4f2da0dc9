"""Data-collection policies: how the robot is driven while recording training data.

A policy is called once per env step as ``policy(obs, info)`` with the latest observation and ``info`` (from
``reset`` or ``step``) and returns a float32 action; policies that need the state read ``info["qpos"]``.
:func:`make_policy` builds one by name (``POLICIES``), checking that it fits the task.
"""

from __future__ import annotations

import numpy as np

from envs.cube_oracle import CubeOraclePolicy, MarkovCubeOraclePolicy, WideCubeOraclePolicy
from envs.push_policy import FastPushPolicy, PushPolicy, PushTurnPolicy


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
    tasks: tuple[str, ...] | None = None  # fits every task

    def __init__(self, action_dim: int, rng: np.random.Generator, min_hold: int = 1, max_hold: int = 10,
                 low: float = -1.0, high: float = 1.0):
        if not 1 <= min_hold <= max_hold:
            raise ValueError(f"need 1 <= min_hold <= max_hold, got {min_hold}, {max_hold}")
        self.action_dim, self.rng = action_dim, rng
        self.min_hold, self.max_hold, self.low, self.high = min_hold, max_hold, low, high
        self._action = np.zeros(action_dim, np.float32)
        self._left = 0

    def __call__(self, obs=None, info=None) -> np.ndarray:
        """Returns the next action, float32 (action_dim,); ignores ``obs`` and ``info``."""
        if self._left == 0:
            self._action = self.rng.uniform(self.low, self.high, self.action_dim).astype(np.float32)
            self._left = int(self.rng.integers(self.min_hold, self.max_hold + 1))
        self._left -= 1
        return self._action.copy()


class DoorSeekingPolicy:
    """Two-room data policy: held-random wandering with noisy trips through the door into the other room.

    Held-random actions rarely take the agent through the 8 cm door (about 3.5 % of 100-step episodes change
    room), so a world model trained on them has hardly seen a crossing, which is what the task is about. This
    policy splits an episode into segments: each starts with a held-random stretch of 1..``max_wander`` env steps;
    then, with probability ``door_prob``, it steers (proportional control on the position, plus Gaussian action
    noise) to a point in front of the door, through it to a point just past it, and on to a random point of the
    other room, after which the next segment starts. A leg that takes longer than ``leg_timeout`` steps is given
    up. Reads the agent position from ``info["qpos"]`` (metres).

    Args:
        action_dim: size of the action vector (2).
        rng: the generator that makes the episode reproducible.
        door_prob: probability that a segment ends with a trip to the other room.
        max_hold: held-random hold length range is 1..max_hold env steps.
        max_wander: longest held-random stretch at the start of a segment, env steps.
        noise: std of the Gaussian noise added to steering actions (halved in the doorway).
        gain: proportional gain, action per metre of position error (10: saturates 10 cm away).
        leg_timeout: env steps after which a leg is abandoned.
    """

    name = "door_seeking"
    tasks: tuple[str, ...] | None = ("tworoom",)

    def __init__(self, action_dim: int, rng: np.random.Generator, door_prob: float = 0.5, max_hold: int = 10,
                 max_wander: int = 40, noise: float = 0.3, gain: float = 10.0, leg_timeout: int = 80):
        if not 0.0 <= door_prob <= 1.0:
            raise ValueError(f"door_prob must be in [0, 1], got {door_prob}")
        if max_wander < 1 or leg_timeout < 1:
            raise ValueError(f"max_wander and leg_timeout must be at least 1, got {max_wander}, {leg_timeout}")
        self.action_dim, self.rng = action_dim, rng
        self.door_prob, self.max_wander, self.noise, self.gain, self.leg_timeout = (
            float(door_prob), int(max_wander), float(noise), float(gain), int(leg_timeout))
        self._random = HeldRandomPolicy(action_dim, rng, max_hold=max_hold)
        self._wander_left = 0
        self._route: list[tuple[np.ndarray, float, float]] = []  # (waypoint, reach tolerance m, noise std)
        self._leg_steps = 0
        self._new_segment()

    def _new_segment(self) -> None:
        self._wander_left = int(self.rng.integers(1, self.max_wander + 1))
        self._crossing = bool(self.rng.random() < self.door_prob)
        self._route = []

    def _plan_crossing(self, qpos: np.ndarray) -> None:
        """Waypoints from the agent's room to a random point of the other one, through the door."""
        from envs.two_room import (AGENT_RADIUS, DOOR_CENTRE_Y, FREE_HALF_WIDTH, MIDDLE_WALL_HALF_THICKNESS,
                                   SAMPLE_CLEARANCE)

        side = -1.0 if qpos[0] < 0.0 else 1.0  # the agent's room; the goal room is -side
        before = MIDDLE_WALL_HALF_THICKNESS + AGENT_RADIUS + 0.035  # 7 cm from the centre line
        door_y = DOOR_CENTRE_Y + self.rng.uniform(-0.01, 0.01)
        margin = AGENT_RADIUS + SAMPLE_CLEARANCE
        target = np.array([-side * self.rng.uniform(MIDDLE_WALL_HALF_THICKNESS + margin, FREE_HALF_WIDTH - margin),
                           self.rng.uniform(-FREE_HALF_WIDTH + margin, FREE_HALF_WIDTH - margin)])
        self._route = [(np.array([side * before, door_y]), 0.015, self.noise),
                       (np.array([-side * before, door_y]), 0.02, 0.5 * self.noise),
                       (target, 0.03, self.noise)]
        self._leg_steps = 0

    def __call__(self, obs=None, info=None) -> np.ndarray:
        """Returns the next action, float32 (action_dim,); needs ``info["qpos"]``."""
        if info is None or "qpos" not in info:
            raise ValueError("the door_seeking policy needs the agent position: call it as policy(obs, info)")
        qpos = np.asarray(info["qpos"], dtype=np.float64)[:2]
        if self._wander_left > 0:
            self._wander_left -= 1
            return self._random()
        if not self._crossing:
            self._new_segment()
            return self.__call__(obs, info)
        if not self._route:
            self._plan_crossing(qpos)
        waypoint, tolerance, noise = self._route[0]
        if np.linalg.norm(waypoint - qpos) < tolerance or self._leg_steps >= self.leg_timeout:
            timed_out = self._leg_steps >= self.leg_timeout
            self._route.pop(0)
            self._leg_steps = 0
            if timed_out or not self._route:
                self._new_segment()
                return self.__call__(obs, info)
            waypoint, tolerance, noise = self._route[0]
        self._leg_steps += 1
        action = self.gain * (waypoint - qpos) + self.rng.normal(0.0, noise, 2)
        return np.clip(action, -1.0, 1.0).astype(np.float32)


POLICIES = {cls.name: cls for cls in (HeldRandomPolicy, DoorSeekingPolicy, PushPolicy, PushTurnPolicy,
                                      FastPushPolicy, CubeOraclePolicy, WideCubeOraclePolicy, MarkovCubeOraclePolicy)}


def check_policy(name: str, task: str) -> None:
    """Raises ValueError (one line) for an unknown policy name or a policy that does not fit ``task``."""
    if name not in POLICIES:
        raise ValueError(f"unknown policy {name!r}; known policies: {', '.join(sorted(POLICIES))}")
    tasks = POLICIES[name].tasks
    if tasks is not None and task not in tasks:
        raise ValueError(f"policy {name!r} works only for {', '.join(tasks)}, not {task!r}")


def make_policy(name: str, task: str, action_dim: int, rng: np.random.Generator, max_hold: int = 10,
                door_prob: float = 0.5, low=-1.0, high=1.0, env=None):
    """Builds a data policy by name for a task (``check_policy`` rules); options a policy has no use for are
    ignored (``door_prob`` is for ``door_seeking`` only). ``low``/``high``: the env's action box (scalars or
    (action_dim,) arrays, in the env's units). ``env``: the unwrapped env, for policies that drive it (``oracle``)."""
    check_policy(name, task)
    if name == DoorSeekingPolicy.name:
        return DoorSeekingPolicy(action_dim, rng, door_prob=door_prob, max_hold=max_hold)
    if issubclass(POLICIES[name], PushPolicy):
        return POLICIES[name](action_dim, rng)
    if issubclass(POLICIES[name], CubeOraclePolicy):
        return POLICIES[name](env, rng)
    return HeldRandomPolicy(action_dim, rng, max_hold=max_hold, low=np.asarray(low, np.float64),
                            high=np.asarray(high, np.float64))
