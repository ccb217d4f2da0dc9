"""The task list, gymnasium registration and ``envs.make``."""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym

from envs.task import LEWM_BUDGET, LEWM_GOAL_OFFSET, TaskDefaults


@dataclass(frozen=True)
class TaskSpec:
    """One task: its short name, gymnasium id, entry point, default episode length and free-goal budget.

    ``max_episode_steps`` is the gymnasium time limit; ``free_budget`` the env steps an agent gets in the
    free-goal evaluation protocol (the env's ``sample_goal_state``: a random goal anywhere, or the task's own
    target): enough to go corner to corner and settle. ``free_env_kwargs``: constructor arguments of the env in
    that protocol, as (name, value) pairs (pusht: success by gym-pusht's coverage test). ``lewm_budget`` and
    ``lewm_goal_offset``: the LeWM protocol's budget and goal offset (env steps), the paper's for every task here.
    ``defaults``: all of them as one ``envs.task.TaskDefaults``.
    """

    name: str
    env_id: str
    entry_point: str | None  # None: a user's gymnasium env, run through envs.gym_task.GymTaskEnv
    max_episode_steps: int
    free_budget: int = 200
    free_env_kwargs: tuple = ()
    lewm_budget: int = LEWM_BUDGET
    lewm_goal_offset: int = LEWM_GOAL_OFFSET

    @property
    def defaults(self) -> TaskDefaults:
        """The task's budgets and free-suite settings as data (what commands show and use as defaults)."""
        return TaskDefaults(episode_steps=self.max_episode_steps, free_budget=self.free_budget,
                            lewm_budget=self.lewm_budget, lewm_goal_offset=self.lewm_goal_offset,
                            free_env_kwargs=self.free_env_kwargs)

    @property
    def is_builtin(self) -> bool:
        """One of our own tasks (False: any other gymnasium id, behind ``GymTaskEnv``)."""
        return self.entry_point is not None


# Episode lengths (env steps): reacher 200 (8 s); pointmass 300 (12 s: corner to opposite corner, 0.82 m at the
# 0.1 m/s top speed, takes about 215 steps, plus time to settle within 1.5 cm); tworoom 200 (8 s: the longest
# trip, corner to corner of the other room through the door, about 1.0 m at 0.2 m/s, takes about 130 steps);
# pusht 300 (30 s at 10 Hz: gym-pusht's own limit; its free suite is the Push-T task itself, gym-pusht's random
# start to its fixed target pose, success by coverage); cube 200 (10 s at 20 Hz: OGBench's own episode length;
# its free suite is OGBench's five single-cube evaluation tasks, ``CubeEnv.free_pair``).
# The free-goal evaluation budget is the same number of steps for each task.
TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in [
        TaskSpec("reacher", "lewm/Reacher-v0", "envs.reacher:ReacherEnv", 200, free_budget=200),
        TaskSpec("pointmass", "lewm/PointMass-v0", "envs.point_mass:PointMassEnv", 300, free_budget=300),
        TaskSpec("tworoom", "lewm/TwoRoom-v0", "envs.two_room:TwoRoomEnv", 200, free_budget=200),
        TaskSpec("pusht", "lewm/PushT-v0", "envs.pusht:PushTEnv", 300, free_budget=300,
                 free_env_kwargs=(("success", "coverage"),)),
        TaskSpec("cube", "lewm/Cube-v0", "envs.cube:CubeEnv", 200, free_budget=200),
    ]
}


# Names of tasks that are gone, with where they went (an old checkpoint or script that names one is told).
RETIRED_TASKS = {
    "cube_shadows": "merged into 'cube' on 2026-12-07: lewm/Cube-v0 now draws the shadows (one cube look, one "
                    "cube model); use --env cube",
    "lewm/CubeShadows-v0": "merged into lewm/Cube-v0 on 2026-12-07, which now draws the shadows; use --env cube",
}


class UnknownTaskError(ValueError):
    """Raised for a task name that is not in ``TASKS``."""


def task_spec(name: str) -> TaskSpec:
    """Looks a task up by short name (``"reacher"``) or gymnasium id (``"lewm/Reacher-v0"``); any other id that
    gymnasium knows (``"Reacher-v5"``, or one a user's module registered) is a task named by its id."""
    for spec in TASKS.values():
        if name in (spec.name, spec.env_id):
            return spec
    if name in RETIRED_TASKS:
        raise UnknownTaskError(f"task {name!r} was {RETIRED_TASKS[name]}")
    if name in gym.registry:
        limit = gym.registry[name].max_episode_steps
        return TaskSpec(name, name, None, int(limit) if limit else 200)
    raise UnknownTaskError(f"unknown env {name!r}; known tasks: {', '.join(sorted(TASKS))}, or any gymnasium id "
                           f"(for an id your own package registers, add --import YOUR_MODULE)")


def make(name: str, **kwargs) -> gym.Env:
    """``gym.make`` for a task's short name or id; kwargs go to the environment constructor. Any other gymnasium
    id is built as a :class:`envs.gym_task.GymTaskEnv` (kwargs: ``env_kwargs``, ``image_size``, ``angle_qpos``,
    ``success_tolerance``)."""
    spec = task_spec(name)
    if spec.is_builtin:
        return gym.make(spec.env_id, **kwargs)
    from envs.gym_task import GymTaskEnv

    return GymTaskEnv(spec.env_id, **kwargs)


def make_task_env(name: str, image_size: int, env_kwargs=None, angle_qpos=None, success_tolerance=None,
                  task_kwargs=None):
    """The unwrapped env of a task at an image size, as collection, planning and evaluation build it: one of our
    tasks as registered (with ``task_kwargs``, e.g. a suite's ``free_env_kwargs``), or any other gymnasium id
    behind ``GymTaskEnv`` with the user's ``env_kwargs``, the qpos entries that are angles and the state-match
    tolerance (the defaults when None)."""
    spec = task_spec(name)
    if spec.is_builtin:
        for option, value in (("--env-kwargs", env_kwargs), ("--tolerance", success_tolerance)):
            if value:
                raise UnknownTaskError(f"{option} applies to gymnasium ids, not to the built-in task {spec.name!r}")
        return gym.make(spec.env_id, image_size=image_size, **dict(task_kwargs or {})).unwrapped
    from envs.gym_task import GymTaskEnv

    options = {} if success_tolerance is None else {"success_tolerance": success_tolerance}
    return GymTaskEnv(spec.env_id, env_kwargs=env_kwargs, image_size=image_size, angle_qpos=angle_qpos or (),
                      **options)


def import_env_module(module: str | None) -> None:
    """Imports the module that registers a user's gymnasium ids (``--import``); a clear error if it fails."""
    import importlib

    if not module:
        return
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise UnknownTaskError(f"--import {module}: cannot import it ({exc}); is it installed or on PYTHONPATH?") \
            from None


# gymnasium's passive checker is left out: when an env's first reset raises (a start state outside the world,
# refused), gymnasium 1.4's checker marks reset as checked without keeping its result, and the next step fails
# with a TypeError of its own. Every task passes gymnasium.utils.env_checker.check_env instead (tests/test_envs.py).
for _spec in TASKS.values():
    if _spec.env_id not in gym.registry:
        gym.register(_spec.env_id, entry_point=_spec.entry_point, max_episode_steps=_spec.max_episode_steps,
                     disable_env_checker=True)


def task_look(name: str) -> tuple[str, str]:
    """(look, note) of a task's env class: the name of what its images look like (``LOOK`` of ``envs.cube``: a
    model trained on another look must not plan in it) and a sentence on its earlier looks; ("", "") for tasks
    that declare none (their look never changed) and for a user's gymnasium env."""
    import importlib

    spec = task_spec(name)
    if not spec.is_builtin:
        return "", ""
    module, cls = spec.entry_point.split(":")
    env_class = getattr(importlib.import_module(module), cls)
    return str(env_class.look), str(env_class.look_note)  # envs.task.TaskBase: "" unless the task declares one
