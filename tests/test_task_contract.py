"""The task contract (envs.task): every registered task and the gymnasium wrapper keep it, and check_task names
each missing or wrong hook of an env that does not."""

import numpy as np
import pytest
from tiny_gym_env import TinyDot  # noqa: F401 (registers TinyDot-v0)

import envs
from envs.goal_env import GoalImageTask
from envs.task import Task, TaskBase, TaskContractError, TaskDefaults, check_task, task_problems


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in ("cube", "pusht") else n
                                  for n in sorted(envs.TASKS)])
def test_every_registered_task_keeps_the_contract(name):
    env = envs.make(name, image_size=16).unwrapped
    try:
        check_task(env)
        assert isinstance(env, Task) and isinstance(env, TaskBase)
        assert isinstance(env, GoalImageTask)  # one goal-image base for dm_control, gym-pusht and OGBench tasks
    finally:
        env.close()


def test_the_gymnasium_wrapper_keeps_the_contract():
    env = envs.make_task_env("TinyDot-v0", 16)
    check_task(env)
    assert env.samples_goals is False and env.report_metrics({}, {}) == {}
    env.close()


class Half(TaskBase):
    """An env that forgot most hooks and gets the facts wrong."""

    nq, nv = 2, "two"
    error_unit = 3

    def reset(self, *, seed=None, options=None):
        return np.zeros((8, 8, 3), np.uint8), {}


def test_a_bad_env_fails_with_one_line_per_hook():
    with pytest.raises(TaskContractError) as caught:
        check_task(Half())
    lines = str(caught.value).splitlines()
    assert lines[0] == "Half does not implement the task contract (envs.task.Task):"
    assert "- nv: must be an integer >= 0, got 'two'" in lines
    assert "- error_unit: must be a str, got 3" in lines
    for hook in ("step", "close", "state_problem", "render_state", "sample_state", "state_error", "is_success"):
        assert f"- {hook}: missing, should be a method" in lines
    assert not any("free_pair" in line or "report_metrics" in line for line in lines)  # TaskBase's defaults


def test_a_running_env_with_a_wrong_info_is_named():
    env = envs.make("pointmass", image_size=16).unwrapped
    original = env.reset

    def reset_without_goal(**kw):
        obs, info = original(**kw)
        return obs, {k: v for k, v in info.items() if k != "goal"}

    env.reset = reset_without_goal
    assert task_problems(env) == ["reset(): info lacks goal (every info holds goal, success, is_success, qpos, qvel)"]
    env.close()


def test_defaults_are_data_read_from_the_task():
    defaults = envs.task_spec("pointmass").defaults
    assert defaults == TaskDefaults(episode_steps=300, free_budget=300)
    assert defaults.budget("free") == 300 and defaults.budget("lewm") == 50 and defaults.lewm_goal_offset == 25
    assert envs.task_spec("pusht").defaults.free_env_kwargs == (("success", "coverage"),)
    with pytest.raises(ValueError, match="unknown suite 'hard'"):
        defaults.budget("hard")
