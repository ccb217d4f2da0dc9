"""Gymnasium environments over dm_control / MuJoCo with image observations and goal images.

Importing this package sets ``MUJOCO_GL`` (egl on Linux, glfw on macOS, unless already set) and registers the
environment ids of ``TASKS``::

    import gymnasium as gym, envs
    env = gym.make("lewm/Reacher-v0")       # or envs.make("reacher", image_size=64)
"""

from envs._gl import configure_gl_backend

configure_gl_backend()

from envs.registry import (TASKS, UnknownTaskError, import_env_module, make, make_task_env,  # noqa: E402
                           task_look, task_spec)
from envs.task import Task, TaskBase, TaskContractError, TaskDefaults, check_task  # noqa: E402

__all__ = ["TASKS", "UnknownTaskError", "import_env_module", "make", "make_task_env", "task_look", "task_spec",
           "Task", "TaskBase", "TaskContractError", "TaskDefaults", "check_task"]
