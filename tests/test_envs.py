"""The environment contract: shapes, exact states, goal images, success with wrap-around, check_env."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs.reacher import ReacherEnv, wrap_angle


@pytest.fixture
def env():
    e = ReacherEnv(image_size=32)
    yield e
    e.close()


def test_registered_ids_and_make():
    assert "reacher" in envs.TASKS
    env = gym.make("lewm/Reacher-v0", image_size=24)
    obs, info = env.reset(seed=0)
    assert obs.shape == (24, 24, 3) and obs.dtype == np.uint8
    assert info["goal"].shape == (24, 24, 3) and info["goal"].dtype == np.uint8
    assert env.spec.max_episode_steps == 200
    env.close()
    assert isinstance(envs.make("reacher", image_size=16).unwrapped, ReacherEnv)


def test_unknown_task_lists_known_ones():
    with pytest.raises(envs.UnknownTaskError, match="known tasks: .*reacher"):
        envs.make("cartpole")


@pytest.mark.slow
def test_check_env_passes():
    env = gym.make("lewm/Reacher-v0", image_size=32, render_mode="rgb_array").unwrapped
    check_env(env, skip_render_check=False)
    env.close()


def test_step_contract(env):
    obs, info = env.reset(seed=3)
    assert set(info) >= {"goal", "success", "qpos", "goal_qpos", "qvel"}
    obs, reward, terminated, truncated, info = env.step(np.zeros(2, np.float32))
    assert obs.shape == (32, 32, 3) and obs.dtype == np.uint8
    assert isinstance(reward, float) and isinstance(terminated, bool) and truncated is False
    assert info["qpos"].shape == (2,) and info["goal_qpos"].shape == (2,)


def test_action_repeat_is_two_physics_steps(env):
    env.reset(seed=0)
    t0 = env.physics.data.time
    env.step(np.array([0.5, -0.5], np.float32))
    assert env.physics.data.time == pytest.approx(t0 + 2 * env.physics.model.opt.timestep)


def test_set_state_round_trip(env):
    state, goal = np.array([1.2, -0.7]), np.array([-2.0, 0.4])
    _, info = env.reset(options={"state": state, "goal_state": goal})
    np.testing.assert_allclose(info["qpos"], state)
    np.testing.assert_allclose(info["goal_qpos"], goal)
    np.testing.assert_allclose(info["qvel"], 0.0)
    full = np.array([0.3, 0.2, 1.0, -1.0])  # qpos then qvel
    _, info = env.reset(options={"state": full, "goal_state": goal})
    np.testing.assert_allclose(info["qvel"], [1.0, -1.0])


def test_goal_image_equals_observation_at_goal_pose(env):
    goal = np.array([0.9, -1.1])
    _, info = env.reset(options={"state": np.array([-2.5, 1.5]), "goal_state": goal})
    obs_at_goal, _ = env.reset(options={"state": goal, "goal_state": np.array([2.0, 2.0])})
    np.testing.assert_array_equal(info["goal"], obs_at_goal)
    assert not np.array_equal(info["goal"], env.render_state(np.array([-2.5, 1.5])))


def test_target_marker_does_not_change_images(env):
    """Two images of the same pose are identical whatever the dm_control target position."""
    pose = np.array([0.4, 0.8])
    a = env.render_state(pose)
    env.physics.named.model.geom_pos["target", :2] = [0.1, -0.1]
    b = env.render_state(pose)
    np.testing.assert_array_equal(a, b)


def test_success_criterion_and_wraparound(env):
    _, info = env.reset(options={"state": np.array([np.pi - 0.01, 0.0]), "goal_state": np.array([-np.pi + 0.02, 0.04])})
    assert info["success"]  # 0.03 rad apart across the +-pi seam
    _, info = env.reset(options={"state": np.array([0.0, 0.0]), "goal_state": np.array([0.0, 0.06])})
    assert not info["success"]
    _, info = env.reset(options={"state": np.array([2 * np.pi + 0.1, 0.0]), "goal_state": np.array([0.1, 0.0])})
    assert info["success"]


def test_terminated_on_success(env):
    pose = np.array([0.5, 0.5])
    env.reset(options={"state": pose, "goal_state": pose})
    _, reward, terminated, _, info = env.step(np.zeros(2, np.float32))
    assert info["success"] and terminated and reward == 1.0


def test_wrap_angle_range():
    angles = np.array([-np.pi, np.pi, 3 * np.pi, -3 * np.pi + 1e-9, 0.0, 7.0])
    wrapped = wrap_angle(angles)
    assert np.all(wrapped > -np.pi) and np.all(wrapped <= np.pi)
    assert wrapped[0] == pytest.approx(np.pi)


def test_seeded_reset_is_reproducible_and_goals_reachable(env):
    a, ia = env.reset(seed=11)
    b, ib = env.reset(seed=11)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ia["goal_qpos"], ib["goal_qpos"])
    for seed in range(20):
        _, info = env.reset(seed=seed)
        assert abs(info["goal_qpos"][1]) <= np.deg2rad(160)


@pytest.mark.parametrize("state", [np.zeros(3), np.zeros(5), np.array([np.nan, 0.0])])
def test_bad_state_is_a_clear_error(env, state):
    with pytest.raises(ValueError, match="state must"):
        env.reset(options={"state": state})


@pytest.mark.parametrize("action", [np.array([np.nan, 0.0]), np.array([np.inf, 0.0]), np.zeros(3)])
def test_bad_action_is_a_clear_error(env, action):
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action must"):
        env.step(action)


def test_actions_move_the_arm(env):
    env.reset(options={"state": np.zeros(2), "goal_state": np.zeros(2)})
    for _ in range(10):
        _, _, _, _, info = env.step(np.array([1.0, 1.0], np.float32))
    assert np.all(info["qpos"] > 0.05)


def test_mujoco_gl_respects_user_value(monkeypatch):
    from envs._gl import configure_gl_backend

    monkeypatch.setenv("MUJOCO_GL", "osmesa")
    assert configure_gl_backend() == "osmesa"
    monkeypatch.delenv("MUJOCO_GL")
    assert configure_gl_backend() in ("egl", "glfw")
