"""When an episode ends, and whether it ended in success.

Gymnasium's ``terminated`` means "the episode is over", not "the goal was reached": our own tasks terminate on
success, but gymnasium's MuJoCo envs terminate on failure (InvertedPendulum's pole falls, Hopper falls over). So
success comes only from the task's success test, ``info["is_success"]`` / ``info["success"]`` (every task env of
this project and :class:`envs.gym_task.GymTaskEnv` set both: the env's own test, or the goal-state tolerance), and
a termination without it ends the episode as a failure.
"""

from __future__ import annotations


def step_success(info: dict) -> bool:
    """The task's success test of one step's ``info``: ``is_success``, else ``success``, else False."""
    for key in ("is_success", "success"):
        if key in info and info[key] is not None:
            return bool(info[key])
    return False


def step_end(terminated: bool, truncated: bool, info: dict) -> tuple[bool, bool]:
    """``(episode over, success)`` after one env step: over on success, on termination or on truncation; success
    only from :func:`step_success` (a termination without it is a failure)."""
    success = step_success(info)
    return bool(success or terminated or truncated), success
