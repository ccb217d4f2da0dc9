"""Goal-conditioned observations: gymnasium-robotics' goal-env dicts from our envs, read by the agent, and the agent
run by stable-baselines3's evaluate_policy and a gymnasium vector env with no glue code."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import envs  # noqa: F401  (registers the ids)
from agent import Agent
from envs.goal_env import pixel_goal_reward

IDS = ["lewm/Reacher-v0", "lewm/PointMass-v0", "lewm/TwoRoom-v0"]
KEYS = {"observation", "achieved_goal", "desired_goal"}


def goal_env(env_id="lewm/Reacher-v0", **kw):
    return gym.make(env_id, goal_conditioned=True, image_size=32, **kw)


@pytest.fixture(scope="module")
def tiny_agent(tiny_checkpoint):
    return Agent.from_pretrained(str(tiny_checkpoint), planner="cem", device="cpu", num_samples=8, n_iters=1,
                                 horizon=2, seed=0)


def frame(seed, n=None):
    shape = (32, 32, 3) if n is None else (n, 32, 32, 3)
    return np.random.default_rng(seed).integers(0, 255, shape, dtype=np.uint8)


# ----------------------------------------------------------------- envs
@pytest.mark.slow
@pytest.mark.parametrize("env_id", IDS)
def test_check_env_passes_goal_conditioned(env_id):
    env = gym.make(env_id, goal_conditioned=True, image_size=32, render_mode="rgb_array").unwrapped
    check_env(env, skip_render_check=False)
    space = env.observation_space
    assert isinstance(space, gym.spaces.Dict) and set(space.spaces) == KEYS
    for box in space.spaces.values():
        assert box.shape == (32, 32, 3) and box.dtype == np.uint8 and box.low.min() == 0 and box.high.max() == 255
    env.close()


@pytest.mark.slow
def test_stable_baselines3_goal_env_checks_pass():
    """stable-baselines3 takes an env with ``compute_reward`` for a goal env: the dict keys, the step reward equal
    to compute_reward, and its batched form are checked. Plain mode has no compute_reward."""
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = goal_env().unwrapped
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 32 px is below the CnnPolicy's minimum: irrelevant here
        sb3_check_env(env, warn=False)
    env.close()
    assert not hasattr(gym.make("lewm/Reacher-v0", image_size=32).unwrapped, "compute_reward")


@pytest.mark.slow
@pytest.mark.parametrize("env_id", IDS)
def test_dict_contents_match_plain_mode(env_id):
    plain, cond = gym.make(env_id, image_size=32), goal_env(env_id)
    obs, info = plain.reset(seed=4)
    d, dinfo = cond.reset(seed=4)
    assert set(d) == KEYS and all(v.shape == (32, 32, 3) and v.dtype == np.uint8 for v in d.values())
    np.testing.assert_array_equal(d["observation"], obs)
    np.testing.assert_array_equal(d["achieved_goal"], obs)
    np.testing.assert_array_equal(d["desired_goal"], dinfo["goal"])
    np.testing.assert_array_equal(dinfo["goal"], info["goal"])
    action = np.full(plain.action_space.shape, 0.5, np.float32)
    obs, reward, terminated, _, info = plain.step(action)
    d, dreward, dterminated, _, dinfo = cond.step(action)
    np.testing.assert_array_equal(d["observation"], obs)
    np.testing.assert_array_equal(d["desired_goal"], info["goal"])
    assert info["is_success"] is info["success"] and dinfo["is_success"] is dinfo["success"]
    assert dterminated == terminated and reward == float(info["success"])
    assert dreward == pixel_goal_reward(d["achieved_goal"], d["desired_goal"], dinfo)
    plain.close(), cond.close()


def test_compute_reward_is_minus_mean_pixel_difference():
    env = goal_env().unwrapped
    a, b = np.zeros((32, 32, 3), np.uint8), np.full((32, 32, 3), 255, np.uint8)
    assert env.compute_reward(a, a, {}) == 0.0 and env.compute_reward(a, b, {}) == -1.0
    batch = env.compute_reward(np.stack([a, a]), np.stack([a, b]), np.array([{}, {}]))
    np.testing.assert_array_equal(batch, [0.0, -1.0])
    with pytest.raises(ValueError, match="achieved_goal and desired_goal must both be"):
        env.compute_reward(a, b[:16], {})
    env.close()


def test_goal_conditioned_must_be_a_bool():
    with pytest.raises(ValueError, match="goal_conditioned must be True or False"):
        gym.make("lewm/Reacher-v0", goal_conditioned="yes")


# ----------------------------------------------------------------- agent
def test_agent_reads_the_goal_from_the_dict_once(tiny_agent):
    agent = tiny_agent
    agent.reset()
    embeds = []
    original = agent._embed
    agent._embed = lambda frames: embeds.append(len(frames)) or original(frames)
    try:
        goal = frame(0)
        for t in range(4):
            action = agent.act({"observation": frame(10 + t), "achieved_goal": frame(10 + t), "desired_goal": goal})
        assert action.shape == (2,)
        # the goal once, then one frame per action block (frameskip 5: one block in 4 steps)
        assert embeds == [1, 1]
        dict_goal = agent._goal.clone()
        agent.set_goal(frame(1))  # a goal set by hand is replaced by the next dict's goal (embedding cached)
        agent.act({"observation": frame(20), "desired_goal": goal})
        assert embeds == [1, 1, 1] and torch.equal(agent._goal, dict_goal)
    finally:
        del agent._embed


def test_dict_without_desired_goal_is_a_clear_error(tiny_agent):
    with pytest.raises(ValueError, match="needs the goal-env keys 'observation' and 'desired_goal'"):
        tiny_agent.act({"observation": frame(0)})


def test_episode_start_restarts_only_the_marked_envs(tiny_agent):
    agent = tiny_agent
    agent.reset()
    obs = {"observation": frame(1, 3), "desired_goal": frame(2, 3)}
    actions, state = agent.predict(obs, episode_start=np.ones(3, bool))
    assert actions.shape == (3, 2) and state is None
    for _ in range(2):  # mid-block
        agent.predict(obs, episode_start=np.zeros(3, bool))
    queued = agent._state.queue.copy()
    calls = []
    original = agent.planner.plan
    agent.planner.plan = lambda cost_fn, batch_size, init_mean=None, **kw: calls.append(batch_size) or original(
        cost_fn, batch_size=batch_size, init_mean=init_mean, **kw)
    try:
        actions, _ = agent.predict(obs, episode_start=np.array([False, True, False]))
    finally:
        agent.planner.plan = original
    assert calls == [1]  # only env 1 replans, from its new first frame
    assert agent._state.hist_len.tolist() == [1, 1, 1] and agent._state.queue_pos.tolist() == [4, 1, 4]
    np.testing.assert_array_equal(actions[[0, 2]], queued[[0, 2], 3])  # the others go on with their block


def test_a_new_goal_in_one_env_restarts_that_env(tiny_agent):
    agent = tiny_agent
    agent.reset()
    goals = frame(2, 2)
    for _ in range(6):
        agent.act({"observation": frame(1, 2), "desired_goal": goals})
    assert agent._state.hist_len.tolist() == [2, 2]
    goals[1] = frame(3)
    agent.act({"observation": frame(1, 2), "desired_goal": goals})
    assert agent._state.hist_len.tolist() == [2, 1] and agent._state.queue_pos.tolist() == [2, 1]


def test_plain_arrays_still_work(tiny_agent):
    agent = tiny_agent
    agent.reset()
    agent.set_goal(frame(0))
    action, _ = agent.predict(frame(1), episode_start=True)
    assert action.shape == (2,) and np.all(np.abs(action) <= 1)


# ----------------------------------------------------------------- third-party loops
@pytest.mark.slow
def test_stable_baselines3_evaluate_policy(tiny_agent):
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv

    vec_env = DummyVecEnv([lambda: Monitor(goal_env(max_episode_steps=6))] * 2)
    tiny_agent.reset()
    mean_reward, std_reward = evaluate_policy(tiny_agent, vec_env, n_eval_episodes=2)
    vec_env.close()
    assert np.isfinite(mean_reward) and np.isfinite(std_reward)
    assert -6.0 <= mean_reward <= 0.0  # six steps of a reward in [-1, 0]


def test_gymnasium_vector_env_loop_with_dicts(tiny_agent):
    venv = gym.vector.SyncVectorEnv([lambda: goal_env(max_episode_steps=4)] * 2)
    agent = tiny_agent
    agent.reset()
    obs, info = venv.reset(seed=0)
    assert obs["observation"].shape == (2, 32, 32, 3)
    for _ in range(7):  # episodes of 4 steps: step 5 autoresets, with new goals
        obs, reward, terminated, truncated, info = venv.step(agent.act(obs))
        assert np.all(np.isfinite(reward)) and "is_success" in info
    venv.close()
    # blocks began at acts 1 and 6 (frameskip 5); act 6 saw the new goals, so both envs restarted there
    assert agent.frameskip == 5 and agent._state.hist_len.tolist() == [1, 1]
