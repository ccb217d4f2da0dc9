"""The task list, gymnasium registration and ``envs.make``."""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym


@dataclass(frozen=True)
class TaskSpec:
    """One task: its short name, gymnasium id, entry point, default episode length and free-goal budget.

    ``max_episode_steps`` is the gymnasium time limit; ``free_budget`` the env steps an agent gets in the
    free-goal evaluation protocol (a random goal anywhere): enough to go corner to corner and settle.
    """

    name: str
    env_id: str
    entry_point: str
    max_episode_steps: int
    free_budget: int = 200


# Episode lengths (env steps): reacher 200 (8 s); pointmass 300 (12 s: corner to opposite corner, 0.82 m at the
# 0.1 m/s top speed, takes about 215 steps, plus time to settle within 1.5 cm); tworoom 200 (8 s: the longest
# trip, corner to corner of the other room through the door, about 1.0 m at 0.2 m/s, takes about 130 steps).
# The free-goal evaluation budget is the same number of steps for each task.
TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in [
        TaskSpec("reacher", "lewm/Reacher-v0", "envs.reacher:ReacherEnv", 200, free_budget=200),
        TaskSpec("pointmass", "lewm/PointMass-v0", "envs.point_mass:PointMassEnv", 300, free_budget=300),
        TaskSpec("tworoom", "lewm/TwoRoom-v0", "envs.two_room:TwoRoomEnv", 200, free_budget=200),
    ]
}


class UnknownTaskError(ValueError):
    """Raised for a task name that is not in ``TASKS``."""


def task_spec(name: str) -> TaskSpec:
    """Looks a task up by short name (``"reacher"``) or gymnasium id (``"lewm/Reacher-v0"``)."""
    for spec in TASKS.values():
        if name in (spec.name, spec.env_id):
            return spec
    raise UnknownTaskError(f"unknown env {name!r}; known tasks: {', '.join(sorted(TASKS))}")


def make(name: str, **kwargs) -> gym.Env:
    """``gym.make`` for a task's short name or id; kwargs go to the environment constructor."""
    return gym.make(task_spec(name).env_id, **kwargs)


for _spec in TASKS.values():
    if _spec.env_id not in gym.registry:
        gym.register(_spec.env_id, entry_point=_spec.entry_point, max_episode_steps=_spec.max_episode_steps)
