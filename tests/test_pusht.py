"""Push-T over gym-pusht: the env contract, exact states and images, relative actions, both success tests, the
push data policies and the free protocol's task goal."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from conftest import record_policy
from envs.policies import make_policy
from envs.pusht import (ANGLE_TOLERANCE, POSE_TOLERANCE, TARGET_POSE, PushTEnv, block_centre, wrap_angle)

SIZE = 32


@pytest.fixture(scope="module")
def env():
    e = PushTEnv(image_size=SIZE)
    yield e
    e.close()


def roll(env, seed, steps):
    """Runs the push policy from ``reset(seed)``; returns frames (T+1, H, W, 3), states (T+1, 10), actions."""
    return record_policy(env, make_policy("push", "pusht", 2, np.random.default_rng(seed)), seed, steps)


def test_registered_made_and_checked():
    spec = envs.task_spec("pusht")
    assert spec.env_id == "lewm/PushT-v0" and spec.is_builtin and spec.free_budget == 300
    made = gym.make("lewm/PushT-v0", image_size=24)
    assert made.spec.max_episode_steps == 300 and isinstance(made.unwrapped, PushTEnv)
    obs, info = made.reset(seed=0)
    assert obs.shape == (24, 24, 3) and obs.dtype == np.uint8 and info["goal"].shape == (24, 24, 3)
    made.close()
    e = gym.make("lewm/PushT-v0", image_size=SIZE, render_mode="rgb_array").unwrapped
    check_env(e, skip_render_check=False)
    e.close()


def test_restored_states_give_the_recorded_images_and_replays(env):
    frames, states, actions = roll(env, seed=3, steps=40)
    for t in (0, 7, 19, 33, 40):
        env.reset(options={"state": states[t], "goal_state": states[0][:5]})
        assert np.array_equal(env._frame(), frames[t]), f"frame {t} differs after restoring its state"
    env.reset(options={"state": states[10], "goal_state": states[0][:5]})
    for a in actions[10:35]:
        env.step(a)
    assert np.abs(env.get_qpos() - states[35][:5]).max() < 1e-6  # a replay from a restored state is exact


def test_the_block_is_turned_before_it_is_placed(env):
    """gym-pusht's reset_to_state places the block, then turns it about its centre of mass: it lands elsewhere."""
    state = np.array([100.0, 120.0, 300.0, 200.0, 1.0])
    _, info = env.reset(options={"state": state, "goal_state": state})
    assert np.allclose(info["qpos"], state)
    assert info["success"] and info["coverage"] == pytest.approx(1.0)


def test_relative_actions_move_the_pusher_and_stay_on_the_table(env):
    start = np.array([256.0, 256.0, 100.0, 100.0, 0.0])
    env.reset(options={"state": start, "goal_state": start})
    for _ in range(10):
        _, _, _, _, info = env.step(np.array([1.0, 0.0], np.float32))
    assert info["qpos"][0] > 400 and abs(info["qpos"][1] - 256) < 1  # +x action: pusher moves +x
    for _ in range(30):
        _, _, _, _, info = env.step(np.array([1.0, 1.0], np.float32))
    assert np.all(info["qpos"][:2] <= 512 - 15)  # the kinematic pusher would pass through the wall
    env.reset(options={"state": start, "goal_state": start})
    _, _, _, _, info = env.step(np.zeros(2, np.float32))
    assert np.allclose(info["qpos"][:2], start[:2])  # zero action: stay


@pytest.mark.parametrize("offset,angle,success", [
    ((0, 0, 0, 0), 0.0, True),
    ((POSE_TOLERANCE * 0.9, 0, 0, 0), 0.0, True),
    ((POSE_TOLERANCE * 0.6, 0, POSE_TOLERANCE * 0.6, 0), 0.0, True),
    ((POSE_TOLERANCE * 0.8, 0, POSE_TOLERANCE * 0.8, 0), 0.0, False),  # jointly beyond 20 px
    ((0, 0, 0, 0), ANGLE_TOLERANCE * 0.9, True),
    ((0, 0, 0, 0), ANGLE_TOLERANCE * 1.1, False),
    ((0, 0, 0, 0), 2 * np.pi + 0.1, True),  # wrapped
])
def test_pose_success_is_the_dino_wm_criterion(env, offset, angle, success):
    goal = np.array([200.0, 300.0, 256.0, 256.0, 0.5])
    qpos = goal + np.array([*offset, angle])
    assert env.is_success(qpos, goal) is success


def test_info_splits_the_pose_error_into_pusher_block_and_angle(env):
    goal = np.array([200.0, 300.0, 256.0, 256.0, 0.5])
    _, info = env.reset(options={"state": goal + np.array([3.0, 4.0, 6.0, 8.0, -0.2]), "goal_state": goal})
    assert info["pusher_distance"] == pytest.approx(5.0, abs=1e-6)
    assert info["block_distance"] == pytest.approx(10.0, abs=1e-4)
    assert info["angle_error"] == pytest.approx(0.2, abs=1e-6)
    assert info["distance"] == pytest.approx(np.hypot(5.0, 10.0), abs=1e-4)


def test_coverage_success_and_the_task_goal():
    e = PushTEnv(image_size=SIZE, success="coverage")
    goal = e.sample_goal_state(np.random.default_rng(0))
    assert np.allclose(goal[2:], TARGET_POSE)
    moved = goal + np.array([60.0, 0.0, 0.0, 0.0, 0.0])  # the pusher elsewhere: coverage ignores it
    assert e.is_success(moved, goal) and not PushTEnv.is_success(PushTEnv(image_size=SIZE), moved, goal)
    shifted = goal + np.array([0.0, 0.0, 12.0, 0.0, 0.0])
    assert 0.5 < e.coverage(shifted, goal) < 0.95 and not e.is_success(shifted, goal)
    _, info = e.reset(options={"state": np.r_[100.0, 100.0, 256.0, 256.0, np.pi / 4], "goal_state": goal})
    assert info["success"] and info["coverage_success"] and info["max_coverage"] == pytest.approx(1.0)
    e.close()


def test_max_coverage_keeps_the_best_moment_of_the_episode_and_restarts_at_reset():
    e = PushTEnv(image_size=SIZE, success="coverage")
    goal = e.sample_goal_state(np.random.default_rng(0))
    pusher_below_block = np.r_[256.0, 330.0, 256.0, 256.0, np.pi / 4]
    _, info = e.reset(options={"state": pusher_below_block, "goal_state": goal})
    assert info["max_coverage"] == pytest.approx(info["coverage"]) and info["coverage"] > 0.95
    for _ in range(8):  # push the block up and off its goal
        _, _, _, _, info = e.step(np.array([0.0, -1.0]))
    assert info["coverage"] < 0.9 and info["max_coverage"] > 0.95
    _, info = e.reset(options={"state": np.r_[100.0, 100.0, 150.0, 150.0, 0.0], "goal_state": goal})
    assert info["max_coverage"] == pytest.approx(info["coverage"]) and info["coverage"] < 0.5
    e.close()
    with pytest.raises(ValueError, match="success must be"):
        PushTEnv(success="area")


def test_free_protocol_builds_the_coverage_task():
    env_free = envs.make_task_env("pusht", SIZE, task_kwargs=dict(envs.task_spec("pusht").free_env_kwargs))
    assert env_free.success == "coverage"
    assert envs.make_task_env("pusht", SIZE).success == "pose"


def test_push_policy_moves_the_block_from_every_side(env):
    _, states, actions = roll(env, seed=0, steps=200)
    assert np.all(np.abs(actions) <= 1.0)
    block_steps = np.linalg.norm(np.diff(states[:, 2:4], axis=0), axis=1)
    assert (block_steps > 0.5).mean() > 0.25  # the block moves in a good part of the steps
    angles = np.unwrap(states[:, 4])
    assert np.abs(np.diff(angles)).sum() > 1.0  # and turns
    # pushes come from several sides: the pusher's bearing from the block's centre at contact-like moments
    bearings = [np.arctan2(*(s[:2] - block_centre(s))[::-1]) for s, m in zip(states[:-1], block_steps) if m > 1]
    assert np.ptp(np.unwrap(np.sort(bearings))) > np.pi


def test_push_policy_needs_the_state_and_fits_only_pusht():
    policy = make_policy("push", "pusht", 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="needs the state"):
        policy(None, {})
    with pytest.raises(ValueError, match="works only for pusht"):
        make_policy("push", "reacher", 2, np.random.default_rng(0))


def test_push_turn_draws_each_push_line_off_the_block_centre():
    from envs.push_policy import PushTurnPolicy
    policy = PushTurnPolicy(2, np.random.default_rng(0), straight_prob=0.0, wander_prob=0.0)
    qpos = np.array([100.0, 100.0, 256.0, 256.0, 0.3])
    centre = block_centre(qpos)
    for _ in range(20):
        policy._new_cycle(qpos)
        start, end = policy._route[-2], policy._route[-1]
        d = (end - start) / np.linalg.norm(end - start)
        miss = abs(np.cross(d, centre - start))  # the push line's distance from the centre, px
        assert 15.0 - 1e-6 <= miss <= 50.0 + 1e-6


def _policy_motion(env, name, seeds=(0, 1, 2), steps=200):
    """Mean block speed (px per step) and mean |turn| (rad per step) of a data policy over a few episodes."""
    speed, turn = [], []
    for seed in seeds:
        _, states, _ = record_policy(env, make_policy(name, "pusht", 2, np.random.default_rng(seed)), seed, steps)
        speed.append(np.linalg.norm(np.diff(states[:, 2:4], axis=0), axis=1).mean())
        turn.append(np.abs(np.diff(np.unwrap(states[:, 4]))).mean())
    return np.mean(speed), np.mean(turn)


def test_the_second_data_policy_turns_the_block_more_and_the_evaluation_policy_pushes_faster(env):
    push, push_turn, push_fast = (_policy_motion(env, name) for name in ("push", "push_turn", "push_fast"))
    assert push_turn[1] > 1.2 * push[1] and push_turn[0] > push[0]
    assert push_fast[0] > 1.3 * push[0]
    for name in ("push_turn", "push_fast"):
        with pytest.raises(ValueError, match="works only for pusht"):
            make_policy(name, "cube", 5, np.random.default_rng(0))


@pytest.mark.parametrize("bad,match", [(np.zeros(3), "must have 5 values"), (np.full(5, np.nan), "finite")])
def test_bad_states_are_refused(env, bad, match):
    with pytest.raises(ValueError, match=match):
        env.reset(options={"state": bad})


def test_wrap_angle():
    assert wrap_angle(np.pi) == pytest.approx(-np.pi)
    assert wrap_angle(-3 * np.pi / 2) == pytest.approx(np.pi / 2)


# ----- through collection, evaluation and lewm-plan ---------------------------------------------------------------
@pytest.mark.slow
def test_collect_records_states_velocities_and_relative_actions(tmp_path):
    import h5py
    import subprocess

    from conftest import installed_command

    out = tmp_path / "pusht.h5"
    result = subprocess.run([installed_command("lewm-collect"), "--env", "pusht", "--policy", "push", "--episodes",
                             "2", "--steps", "30", "--image-size", "16", "--workers", "1", "--no-progress",
                             "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    with h5py.File(out, "r") as f:
        assert f["pixels"].shape == (62, 16, 16, 3) and f["qpos"].shape == (62, 5) and f["qvel"].shape == (62, 5)
        assert np.nanmax(np.abs(f["action"][:])) <= 1.0
        assert list(f.attrs["angle_qpos"]) == [4]


@pytest.fixture(scope="module")
def tiny_pusht_checkpoint(tmp_path_factory):
    import torch
    from conftest import tiny_config

    from world_model import LeWM

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("ckpt") / "tiny_pusht"
    LeWM(tiny_config(task="pusht", angle_qpos=[4])).save(folder)
    return folder


def test_free_suite_is_the_push_t_task_with_coverage_reported(tiny_pusht_checkpoint):
    from agent.evaluation import evaluate, to_jsonable
    from agent.agent import make_agent
    from agent.report import markdown_table

    agent = make_agent(str(tiny_pusht_checkpoint), task="pusht", num_samples=8, n_iters=1, horizon=2, device="cpu")
    s = to_jsonable(evaluate("pusht", "free", agent, episodes=2, seed=0, budget=3, progress=False))
    assert s["budget"] == 3 and s["error_unit"] == "px"
    measures = {"coverage", "max_coverage", "coverage_success", "pusher_distance", "block_distance", "angle_error"}
    assert set(s["metrics"]) == measures and 0.0 <= s["metrics"]["coverage"] < 0.95
    assert all(set(e["metrics"]) == measures for e in s["per_episode"])
    assert "coverage " in markdown_table([s]) and " px |" in markdown_table([s])


@pytest.mark.slow
def test_lewm_plan_reaches_for_the_push_t_target(tiny_pusht_checkpoint, tmp_path):
    import subprocess

    from conftest import installed_command

    exe, goal = installed_command("lewm-plan"), tmp_path / "goal.png"
    made = subprocess.run([exe, "--env", "pusht", "--make-goal", str(goal), "--checkpoint",
                           str(tiny_pusht_checkpoint)], capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr
    assert "256.0, 440.0, 256.0, 256.0, 0.7854" in made.stdout  # the task's own target, not a random pose
    result = subprocess.run([exe, "--env", "pusht", "--goal", str(goal), "--checkpoint", str(tiny_pusht_checkpoint),
                             "--steps", "2", "--samples", "8", "--iters", "1", "--horizon", "2", "--device", "cpu",
                             "--no-progress"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip().splitlines()[-1]
    assert " px (success within 20.0 px)" in line and "| the block covers " in line  # agent.metric_words


def test_a_task_without_a_shipped_model_says_how_to_train_one(monkeypatch):
    from agent import pretrained

    shipped = {k: v for k, v in pretrained.shipped_checkpoints().items() if k != "pusht"}
    monkeypatch.setattr(pretrained, "shipped_checkpoints", lambda: shipped)
    with pytest.raises(FileNotFoundError) as err:
        pretrained.resolve_checkpoint("pusht")
    message = str(err.value)
    assert "\n" not in message and "no checkpoint 'pusht'" in message and "lewm-collect --env pusht" in message


@pytest.mark.slow
def test_the_readme_push_t_example_with_the_shipped_model_moves_the_t_towards_its_goal():
    """The README's Push-T command (100 env steps, no video): the shipped model, its proposal policy and goal value,
    the example goal and start load and plan, and the pusher and block end near their goal (they start about
    290 px from it; the shipped agent succeeds in 53 steps on a Zen 4 in bf16, and the bound leaves room for
    another CPU's precision)."""
    import re
    import subprocess
    from pathlib import Path

    from conftest import installed_command

    examples = Path(__file__).resolve().parent.parent / "agent" / "examples"
    start = (examples / "pusht_start.txt").read_text().strip()
    result = subprocess.run([installed_command("lewm-plan"), "--env", "pusht", "--goal",
                             str(examples / "pusht_push_goal.png"), f"--start-state={start}", "--steps", "100",
                             "--no-progress"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    found = re.search(r"final distance: ([\d.]+) px \(success within 20\.0 px\)", result.stdout)
    assert found and float(found.group(1)) < 60, result.stdout
