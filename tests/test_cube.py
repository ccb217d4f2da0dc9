"""The OGBench cube over ogbench: the env contract, exact states and images, OGBench's success test and its five
evaluation tasks, the oracle data policy."""

import re

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from agent.evaluation import free_pairs
from conftest import record_policy
from envs.cube import CUBE_XYZ, OGBENCH_TASKS, SUCCESS_DISTANCE, CubeEnv
from envs.policies import make_policy

SIZE = 32


@pytest.fixture(scope="module")
def env():
    e = CubeEnv(image_size=SIZE)
    yield e
    e.close()


def roll(env, seed, steps, policy="oracle"):
    """Runs a cube oracle from ``reset(seed)``; returns frames (T+1, H, W, 3), states (T+1, 41), actions (T, 5)."""
    return record_policy(env, make_policy(policy, "cube", 5, np.random.default_rng(seed), env=env), seed, steps)


@pytest.mark.slow
def test_registered_made_and_checked():
    spec = envs.task_spec("cube")
    assert spec.env_id == "lewm/Cube-v0" and spec.is_builtin and spec.free_budget == 200
    made = gym.make("lewm/Cube-v0", image_size=24)
    assert made.spec.max_episode_steps == 200 and isinstance(made.unwrapped, CubeEnv)
    obs, info = made.reset(seed=0)
    assert obs.shape == (24, 24, 3) and obs.dtype == np.uint8 and info["goal"].shape == (24, 24, 3)
    assert info["qpos"].shape == (21,) and info["qvel"].shape == (20,)
    made.close()
    e = gym.make("lewm/Cube-v0", image_size=SIZE, render_mode="rgb_array").unwrapped
    check_env(e, skip_render_check=False)
    e.close()


@pytest.mark.slow
def test_restored_states_give_the_recorded_images_and_goals(env):
    frames, states, actions = roll(env, seed=3, steps=30)
    for t in (0, 9, 21, 30):
        obs, info = env.reset(options={"state": states[t], "goal_state": states[30][:21]})
        assert np.array_equal(obs, frames[t]), f"frame {t} differs after restoring its state"
        assert np.array_equal(info["goal"], frames[30])  # a goal image is its state rendered
    env.reset(options={"state": states[5], "goal_state": states[0][:21]})
    for a in actions[5:25]:
        env.step(a)
    assert np.abs(env._data.qpos - states[25][:21]).max() < 1e-4  # a replay from a restored state stays on it


@pytest.mark.slow
def test_the_look_is_shadowed_with_coarse_meshes_and_the_physics_is_unchanged(env):
    """The drawn meshes are coarsened (far fewer triangles), which changes pixels a little and the physics not
    at all; without shadows the frames differ clearly (the arm's shadow is gone)."""
    full = CubeEnv(image_size=SIZE, mesh_cell=0.0)
    flat = CubeEnv(image_size=SIZE, shadows=False)
    frames, states, actions = roll(env, seed=4, steps=10)
    full_frame = full.reset(options={"state": states[0]})[0]
    assert env.look == "shadowed" and env._model.vis.quality.shadowsize == 512
    assert env._model.light_castshadow.any() and env._model.mesh_facenum.sum() < full._model.mesh_facenum.sum() / 4
    for a in actions:
        full.step(a)
    assert np.array_equal(full._data.qpos, states[10][:21])  # the same physics, step for step
    assert np.abs(full_frame.astype(int) - frames[0]).mean() < 2.0
    assert np.abs(flat.reset(options={"state": states[0]})[0].astype(int) - frames[0]).mean() > 1.0
    assert flat.look == "flat"
    full.close()
    flat.close()


def test_the_retired_shadowed_task_names_where_it_went():
    with pytest.raises(envs.UnknownTaskError, match="merged into 'cube'"):
        envs.task_spec("cube_shadows")
    with pytest.raises(envs.UnknownTaskError, match="merged into lewm/Cube-v0"):
        envs.task_spec("lewm/CubeShadows-v0")
    assert envs.task_look("cube") == ("shadowed", CubeEnv.look_note) and envs.task_look("reacher") == ("", "")


@pytest.mark.parametrize("recorded, shown", [("", "images from before looks were recorded"),
                                             ("flat", "the 'flat' look")])
def test_a_checkpoint_of_another_look_is_refused_naming_both_looks(tmp_path, recorded, shown):
    import shutil

    from agent.agent import make_agent
    from agent.pretrained import shipped_checkpoints
    from world_model import LeWMConfig
    from common.cli_errors import UserInputError

    folder = tmp_path / "old_cube"
    shutil.copytree(shipped_checkpoints()["cube"], folder)
    cfg = LeWMConfig.from_yaml(folder / "config.yaml")
    assert cfg.look == "shadowed"
    cfg.replace(look=recorded).to_yaml(folder / "config.yaml")
    with pytest.raises(UserInputError, match=f"trained on {shown}, but lewm/Cube-v0 now draws the 'shadowed' look"):
        make_agent(str(folder))


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["oracle", "oracle_markov"])
def test_the_oracle_moves_the_cube_and_is_reproducible(env, policy):
    _, states, actions = roll(env, seed=1, steps=60, policy=policy)
    _, again, actions_again = roll(env, seed=1, steps=60, policy=policy)
    assert np.array_equal(actions, actions_again) and np.allclose(states, again)
    lifted = states[:, CUBE_XYZ][:, 2].max()
    moved = np.linalg.norm(states[:, CUBE_XYZ] - states[0, CUBE_XYZ], axis=1).max()
    assert lifted > 0.03 or moved > 0.02, "the oracle did not pick the cube up within 60 steps"
    np.random.seed(123)
    outside = np.random.get_state()[1].copy()
    roll(env, seed=2, steps=3, policy=policy)
    assert np.array_equal(np.random.get_state()[1], outside)  # numpy's global generator is left alone


@pytest.mark.slow
def test_reach_and_lift_are_tracked_since_the_reset(env):
    """closest_reach / highest_lift (lewm-eval's cube measures) are the running min / max since the reset."""
    obs, info = env.reset(seed=1)
    policy = make_policy("oracle", "cube", 5, np.random.default_rng(1), env=env)
    reaches, lifts = [], []
    for _ in range(60):
        reaches.append(np.linalg.norm(info["proprio/effector_pos"] - info["privileged/block_0_pos"]))
        lifts.append(info["privileged/block_0_pos"][2] - 0.02)
        assert info["closest_reach"] == pytest.approx(min(reaches))
        assert info["highest_lift"] == pytest.approx(max(0.0, max(lifts)))
        obs, _, _, _, info = env.step(policy(obs, info))
    assert min(reaches) < 0.03, "the oracle's gripper never reached the cube"
    _, info = env.reset(seed=1)
    assert info["closest_reach"] == pytest.approx(reaches[0]) and info["highest_lift"] == pytest.approx(0.0,
                                                                                                         abs=1e-3)
    assert env.report_metrics(info, info) == {"closest_reach": info["closest_reach"],
                                              "highest_lift": info["highest_lift"]}


def test_success_is_ogbench_distance_to_the_goal_cube(env):
    _, info = env.reset(seed=0)
    goal = info["qpos"].copy()
    near, far = goal.copy(), goal.copy()
    near[CUBE_XYZ] += [0.02, 0.02, 0.02]  # 3.5 cm away
    far[CUBE_XYZ] += [0.03, 0.03, 0.0]  # 4.2 cm away
    assert env.is_success(near, goal) and not env.is_success(far, goal)
    _, info = env.reset(options={"state": far, "goal_state": goal})
    assert not info["success"] and info["distance"] == pytest.approx(np.hypot(0.03, 0.03))
    assert info["distance"] > SUCCESS_DISTANCE
    arm_moved = goal.copy()
    arm_moved[:6] += 0.3  # success ignores the arm
    assert env.is_success(arm_moved, goal)


@pytest.mark.slow
def test_free_pairs_are_ogbench_tasks(env):
    fresh = CubeEnv(image_size=SIZE)  # pairs can be drawn and states drawn before the first reset
    first = free_pairs(fresh, episodes=1, seed=0)[0]
    assert fresh.render_state(first.goal).shape == (SIZE, SIZE, 3)
    fresh.close()
    pairs = free_pairs(env, episodes=5, seed=0)
    assert np.array_equal(first.start, pairs[0].start) and np.array_equal(first.goal, pairs[0].goal)
    assert [p.start.shape for p in pairs] == [(41,)] * 5
    for pair, (name, start_xyz, goal_xyz) in zip(pairs, OGBENCH_TASKS):
        assert np.abs(pair.start[CUBE_XYZ][:2] - start_xyz[:2]).max() <= 0.01 + 1e-9, name
        assert np.linalg.norm(pair.goal[CUBE_XYZ] - goal_xyz) < 0.01, name  # settled where the task puts it
    again = free_pairs(env, episodes=5, seed=0)
    assert all(np.array_equal(a.start, b.start) and np.array_equal(a.goal, b.goal) for a, b in zip(pairs, again))


@pytest.mark.parametrize("options, message", [
    ({"state": np.zeros(5)}, "state must have 21"),
    ({"goal_state": np.full(21, np.nan)}, "goal_state must be finite"),
    ({"start": np.zeros(21)}, "unknown reset options"),
])
def test_bad_reset_options(env, options, message):
    with pytest.raises(ValueError, match=message):
        env.reset(options=options)


@pytest.mark.parametrize("action, message", [(np.zeros(4), "shape"), (np.full(5, np.inf), "finite")])
def test_bad_actions(env, action, message):
    env.reset(seed=0)
    with pytest.raises(ValueError, match=message):
        env.step(action)


def test_oracle_policy_refuses_other_tasks():
    with pytest.raises(ValueError, match="works only for cube"):
        make_policy("oracle", "reacher", 2, np.random.default_rng(0))


@pytest.mark.slow
def test_lewm_collect_with_the_oracle(tmp_path):
    import subprocess

    import h5py
    from conftest import installed_command

    out = tmp_path / "cube.h5"
    result = subprocess.run([installed_command("lewm-collect"), "--env", "cube", "--policy", "oracle", "--episodes",
                             "2", "--steps", "8", "--image-size", "16", "--workers", "2", "--out", str(out)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    with h5py.File(out) as f:
        assert f["pixels"].shape == (18, 16, 16, 3) and f["qpos"].shape == (18, 21) and f["qvel"].shape == (18, 20)
        actions = f["action"][:]
        assert np.isnan(actions[8]).all() and np.abs(actions[:8]).max() <= 1.0 and np.abs(actions[:8]).max() > 0


@pytest.mark.slow
def test_lewm_plan_with_the_shipped_cube_model():
    """The README's cube command, cut to 2 env steps and a small search: the shipped model, its example goal and
    start state load and plan, and the run reports the cube's distance to the goal."""
    import subprocess
    from pathlib import Path

    from conftest import installed_command

    examples = Path(__file__).resolve().parent.parent / "agent" / "examples"
    start = (examples / "cube_start.txt").read_text().strip()
    result = subprocess.run([installed_command("lewm-plan"), "--env", "cube", "--goal", str(examples / "cube_goal.png"),
                             f"--start-state={start}", "--steps", "2", "--samples", "16", "--iters", "1",
                             "--no-progress"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert re.search(r"final distance: \d\.\d+ m \(success within 0\.04 m\)", result.stdout), result.stdout


@pytest.mark.slow
def test_collected_data_record_the_look_and_training_copies_it(tmp_path):
    import h5py

    from agent.collect import CollectConfig, collect
    from world_model.training.run_data import env_facts

    out = tmp_path / "cube.h5"
    collect(CollectConfig(env="cube", episodes=1, steps=3, image_size=SIZE, policy="oracle"), out, workers=1,
            progress=False)
    with h5py.File(out) as f:
        attrs = dict(f.attrs)
    assert attrs["look"] == "shadowed" and env_facts(attrs)["look"] == "shadowed"
