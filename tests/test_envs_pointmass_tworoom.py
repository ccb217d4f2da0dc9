"""Point-mass and two-room tasks: the env contract, Euclidean success, walls, the door, free-space sampling."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs.point_mass import PointMassEnv
from envs.two_room import (AGENT_RADIUS, DOOR_CENTRE_Y, LEFT_ROOM, MIDDLE_WALL_HALF_THICKNESS, RIGHT_ROOM,
                           TwoRoomEnv, is_free, room_of, wall_clearance)

SIZE = 32
ENV_CLASSES = {"pointmass": PointMassEnv, "tworoom": TwoRoomEnv}


@pytest.fixture(scope="module")
def pm():
    e = PointMassEnv(image_size=SIZE)
    yield e
    e.close()


@pytest.fixture(scope="module")
def tr():
    e = TwoRoomEnv(image_size=SIZE)
    yield e
    e.close()


@pytest.fixture(params=["pointmass", "tworoom"])
def env(request, pm, tr):
    return {"pointmass": pm, "tworoom": tr}[request.param]


def drive(env, action, steps):
    """Steps ``env`` with one held action; returns the last info."""
    info = None
    for _ in range(steps):
        _, _, _, _, info = env.step(np.asarray(action, np.float32))
    return info


# ----- shared contract ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,env_id,steps", [("pointmass", "lewm/PointMass-v0", 300),
                                               ("tworoom", "lewm/TwoRoom-v0", 200)])
def test_registered_and_made(name, env_id, steps):
    assert envs.task_spec(name).env_id == env_id
    made = gym.make(env_id, image_size=24)
    assert made.spec.max_episode_steps == steps
    assert isinstance(made.unwrapped, ENV_CLASSES[name])
    obs, info = made.reset(seed=0)
    assert obs.shape == (24, 24, 3) and obs.dtype == np.uint8
    assert info["goal"].shape == (24, 24, 3) and info["goal"].dtype == np.uint8
    made.close()


@pytest.mark.slow
@pytest.mark.parametrize("env_id", ["lewm/PointMass-v0", "lewm/TwoRoom-v0"])
def test_check_env_passes(env_id):
    e = gym.make(env_id, image_size=SIZE, render_mode="rgb_array").unwrapped
    check_env(e, skip_render_check=False)
    e.close()


def test_step_contract(env):
    obs, info = env.reset(seed=1)
    assert set(info) >= {"goal", "success", "qpos", "qvel", "goal_qpos", "error", "distance"}
    obs, reward, terminated, truncated, info = env.step(np.zeros(2, np.float32))
    assert obs.shape == (SIZE, SIZE, 3) and obs.dtype == np.uint8
    assert isinstance(reward, float) and isinstance(terminated, bool) and truncated is False
    assert info["qpos"].shape == (2,) and info["error"].shape == (2,)


def test_exact_reset_options(env):
    state, goal = np.array([-0.12, 0.05]), np.array([0.1, -0.2])
    _, info = env.reset(options={"state": state, "goal_state": goal})
    np.testing.assert_allclose(info["qpos"], state)
    np.testing.assert_allclose(info["goal_qpos"], goal)
    np.testing.assert_allclose(info["qvel"], 0.0)
    _, info = env.reset(options={"state": np.array([-0.12, 0.05, 0.03, -0.02]), "goal_state": goal})
    np.testing.assert_allclose(info["qpos"], state)
    np.testing.assert_allclose(info["qvel"], [0.03, -0.02])


def test_goal_image_equals_observation_at_goal(env):
    goal, start = np.array([0.15, -0.1]), np.array([-0.2, 0.2])
    _, info = env.reset(options={"state": start, "goal_state": goal})
    obs_at_goal, _ = env.reset(options={"state": goal, "goal_state": start})
    np.testing.assert_array_equal(info["goal"], obs_at_goal)
    assert not np.array_equal(info["goal"], env.render_state(start))


def test_pointmass_target_marker_is_hidden(pm):
    pos = np.array([0.1, 0.1])
    a = pm.render_state(pos)
    pm.physics.named.model.geom_pos["target", :2] = [-0.2, 0.15]
    b = pm.render_state(pos)
    pm.physics.named.model.geom_pos["target", :2] = [0.0, 0.0]
    np.testing.assert_array_equal(a, b)


def test_success_is_a_euclidean_radius(env):
    tol, goal = env.success_tolerance, np.array([0.1, -0.1])
    cases = [(np.array([0.98 * tol, 0.0]), True), (np.array([0.0, -1.02 * tol]), False),
             # every coordinate within the radius, but the distance outside it
             (np.array([0.8 * tol, 0.8 * tol]), False), (np.array([0.6 * tol, -0.6 * tol]), True)]
    for offset, expected in cases:
        _, info = env.reset(options={"state": goal + offset, "goal_state": goal})
        assert info["success"] is expected, (offset, info["distance"])
        assert info["distance"] == pytest.approx(np.linalg.norm(offset))
        np.testing.assert_allclose(info["error"], np.abs(offset), atol=1e-12)


def test_terminated_on_success(env):
    pos = np.array([-0.1, -0.15])
    env.reset(options={"state": pos, "goal_state": pos})
    _, reward, terminated, _, info = env.step(np.zeros(2, np.float32))
    assert info["success"] and terminated and reward == 1.0


def test_actions_move_the_agent(env):
    start = np.array([-0.2, -0.2])
    env.reset(options={"state": start, "goal_state": [-0.1, -0.1]})  # (0, 0) is inside two rooms' middle wall
    info = drive(env, [1.0, 0.5], 10)
    moved = info["qpos"] - start
    assert moved[0] > 0.01 and moved[1] > 0.005 and moved[0] > moved[1]


def test_seeded_reset_is_reproducible(env):
    a, ia = env.reset(seed=5)
    b, ib = env.reset(seed=5)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ia["goal_qpos"], ib["goal_qpos"])


# ----- point mass ------------------------------------------------------------------------------------------------
def test_pointmass_samples_inside_the_walls(pm):
    rng = np.random.default_rng(0)
    samples = np.array([pm.sample_state(rng) for _ in range(2000)])
    assert np.all(np.abs(samples) <= 0.29)
    assert samples.min() < -0.27 and samples.max() > 0.27  # covers the arena


# ----- two rooms -------------------------------------------------------------------------------------------------
def contacts_at(env, qpos) -> int:
    env.set_state(np.asarray(qpos, float))
    env.physics.forward()
    return int(env.physics.data.ncon)


def test_tworoom_samples_are_in_free_space_and_both_rooms(tr):
    rng = np.random.default_rng(0)
    samples = np.array([tr.sample_state(rng) for _ in range(2000)])
    assert all(is_free(s) for s in samples)
    assert np.all(np.abs(samples[:, 0]) > MIDDLE_WALL_HALF_THICKNESS + AGENT_RADIUS)
    rooms = room_of(samples)
    assert 0.4 < np.mean(rooms == RIGHT_ROOM) < 0.6
    assert all(contacts_at(tr, s) == 0 for s in samples[:100])  # MuJoCo agrees: no wall touched


def test_tworoom_free_space_geometry_matches_mujoco(tr):
    assert is_free([0.0, DOOR_CENTRE_Y]) and contacts_at(tr, [0.0, DOOR_CENTRE_Y]) == 0  # in the doorway
    for inside_wall in ([0.0, -0.1], [-0.02, 0.0], [0.27, 0.0], [0.1, -0.275]):
        assert not is_free(inside_wall) and contacts_at(tr, inside_wall) > 0, inside_wall
    assert wall_clearance([0.0, -0.1]) < 0


def test_room_of():
    assert room_of([-0.1, 0.2]) == LEFT_ROOM and room_of([0.1, -0.2]) == RIGHT_ROOM
    np.testing.assert_array_equal(room_of(np.array([[-0.1, 0.0], [0.2, 0.1]])), [LEFT_ROOM, RIGHT_ROOM])


@pytest.mark.parametrize("side", [-1.0, 1.0])
def test_tworoom_wall_blocks_away_from_the_door(tr, side):
    start = np.array([0.1 * side, -0.1])
    _, info = tr.reset(options={"state": start, "goal_state": start})
    room = info["room"]
    for _ in range(60):
        _, _, _, _, info = tr.step(np.array([-side, 0.0], np.float32))
        assert info["room"] == room
        assert abs(info["qpos"][0]) > MIDDLE_WALL_HALF_THICKNESS + 0.5 * AGENT_RADIUS
    assert abs(info["qpos"][0]) < MIDDLE_WALL_HALF_THICKNESS + AGENT_RADIUS + 0.005  # it did reach the wall
    assert abs(info["qvel"][0]) < 1e-3  # and stopped there, not crawling through


def test_tworoom_door_lets_the_agent_through(tr):
    start = np.array([-0.2, -0.2])
    _, info = tr.reset(options={"state": start, "goal_state": start})
    assert info["room"] == LEFT_ROOM
    route = [np.array([-0.08, DOOR_CENTRE_Y]), np.array([0.12, DOOR_CENTRE_Y])]  # to the door, then through it
    for waypoint in route:
        for _ in range(80):
            action = np.clip(10.0 * (waypoint - info["qpos"]), -1.0, 1.0).astype(np.float32)
            _, _, _, _, info = tr.step(action)
            if np.linalg.norm(waypoint - info["qpos"]) < 0.02:
                break
    assert info["room"] == RIGHT_ROOM and info["qpos"][0] > 0.1


def test_tworoom_info_reports_rooms(tr):
    _, info = tr.reset(options={"state": np.array([-0.1, 0.0]), "goal_state": np.array([0.1, 0.0])})
    assert info["room"] == LEFT_ROOM and info["goal_room"] == RIGHT_ROOM
