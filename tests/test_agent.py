"""The agent on a tiny untrained model: shapes, batching, history, warm start, goal caching, image handling."""

import numpy as np
import pytest
import torch
from conftest import DEVICES, tiny_config

from agent import Agent
from agent.images import to_rgb_frames
from agent.agent import make_agent
from agent.pretrained import make_planner
from world_model import LeWM


def small_agent(device="cpu", receding_horizon=1, horizon=3, **kw):
    torch.manual_seed(0)
    wm = LeWM(tiny_config()).to(device)
    low, high = Agent.planner_box(wm)
    planner = make_planner("cem", wm.cfg.action_block_dim, low, high, torch.device(device), horizon=horizon,
                           num_samples=12, n_iters=2, topk=3)
    return Agent(wm, planner, receding_horizon=receding_horizon, **kw)


def frame(seed, size=32):
    return np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)


@pytest.mark.parametrize("device", DEVICES)
def test_single_and_batched_act_shapes(device):
    agent = small_agent(device)
    agent.set_goal(frame(0))
    action = agent.act(frame(1))
    assert action.shape == (2,) and action.dtype == np.float32
    assert np.all(np.abs(action) <= 1.0)
    agent.reset()
    actions = agent.act(np.stack([frame(i) for i in range(4)]))
    assert actions.shape == (4, 2)


def test_batch_is_one_planner_call():
    agent = small_agent()
    calls = []
    original = agent.planner.plan

    def counting(cost_fn, batch_size, init_mean=None, **kw):
        calls.append(batch_size)
        return original(cost_fn, batch_size=batch_size, init_mean=init_mean, **kw)

    agent.planner.plan = counting
    agent.set_goal(frame(0))
    agent.act(np.stack([frame(i) for i in range(5)]))
    assert calls == [5]


def test_replans_every_receding_horizon_blocks_and_keeps_history():
    agent = small_agent(receding_horizon=2, horizon=3)
    agent.set_goal(frame(0))
    fs = agent.frameskip
    for step in range(4 * fs):
        agent.act(frame(step))
    # blocks start at steps 0, 5, 10, 15; plans at blocks 0 and 2
    assert len(agent.plan_seconds) == 2
    assert agent._z_hist.shape == (1, 3, 32) and agent._a_hist.shape == (1, 2, 10)


def test_history_frames_are_block_boundaries():
    agent = small_agent()
    agent.set_goal(frame(0))
    seen = [frame(100 + s) for s in range(2 * agent.frameskip + 1)]
    for obs in seen:
        agent.act(obs)
    expected = agent._embed(np.stack([seen[0], seen[agent.frameskip], seen[2 * agent.frameskip]]))
    torch.testing.assert_close(agent._z_hist[0], expected)


def test_executed_actions_are_the_plans_first_block():
    agent = small_agent()
    agent.set_goal(frame(0))
    first = [agent.act(frame(1))] + [agent.act(frame(1)) for _ in range(agent.frameskip - 1)]
    raw = agent.world_model.denormalize_actions(agent._plan[0, 0]).clamp(-1, 1).reshape(agent.frameskip, 2)
    np.testing.assert_allclose(np.stack(first), raw.numpy(), atol=1e-6)


def test_warm_start_shifts_the_unexecuted_tail():
    agent = small_agent(receding_horizon=1, horizon=4)
    agent.set_goal(frame(0))
    seen = {}
    original = agent.planner.plan

    def spy(cost_fn, batch_size, init_mean=None, **kw):
        seen.setdefault("inits", []).append(None if init_mean is None else init_mean.clone())
        result = original(cost_fn, batch_size=batch_size, init_mean=init_mean, **kw)
        seen.setdefault("plans", []).append(result.actions.clone())
        return result

    agent.planner.plan = spy
    for step in range(agent.frameskip + 1):
        agent.act(frame(step))
    assert seen["inits"][0] is None
    prev, init = seen["plans"][0], seen["inits"][1]
    torch.testing.assert_close(init[:, :-1], prev[:, 1:])
    assert torch.all(init[:, -1] == 0)


def test_goal_embedding_is_cached():
    agent = small_agent()
    calls = []
    original = agent._embed
    agent._embed = lambda frames: calls.append(len(frames)) or original(frames)
    agent.set_goal(frame(0))
    agent.set_goal(frame(0).copy())
    assert calls == [1]
    agent.set_goal(frame(9))
    assert calls == [1, 1]


def test_per_env_goals_and_keep():
    agent = small_agent()
    agent.set_goal(np.stack([frame(0), frame(1), frame(2)]))
    agent.act(np.stack([frame(5)] * 3))
    agent.keep([0, 2])
    assert agent._goal.shape[0] == 2 and agent._z_hist.shape[0] == 2
    assert agent.act(np.stack([frame(5)] * 2)).shape == (2, 2)


def test_predict_is_sb3_style():
    agent = small_agent()
    agent.set_goal(frame(0))
    action, state = agent.predict(frame(1), deterministic=True)
    assert action.shape == (2,) and state is None


def test_act_without_goal_is_a_clear_error():
    with pytest.raises(RuntimeError, match="set_goal"):
        small_agent().act(frame(1))


def test_cost_prefers_reaching_the_goal():
    """The all-step cost is lower for a rollout that sits on the goal embedding than one that does not."""
    agent = small_agent()
    agent.set_goal(frame(0))
    agent.act(frame(1))
    cost = agent.cost_function()
    cands = torch.zeros(1, 2, 3, 10)
    values = cost(cands)
    assert values.shape == (1, 2) and torch.isfinite(values).all()


@pytest.mark.parametrize("image,shape", [
    (np.zeros((40, 40), np.uint8), (32, 32, 3)),
    (np.zeros((32, 32, 4), np.uint8), (32, 32, 3)),
    (np.zeros((64, 48, 3), np.float32), (32, 32, 3)),
    (np.zeros((2, 32, 32, 1), np.uint8), (2, 32, 32, 3)),
])
def test_images_are_resized_and_converted(image, shape):
    out = to_rgb_frames(image, 32)
    assert out.shape == shape and out.dtype == np.uint8


@pytest.mark.parametrize("bad", [np.zeros((32, 32, 2)), np.zeros(5), np.zeros((1, 2, 3, 4, 5))])
def test_bad_image_shape_names_the_expected_one(bad):
    with pytest.raises(ValueError, match=r"expected an RGB image \(H, W, 3\).*32x32"):
        to_rgb_frames(bad, 32)


def test_from_pretrained_folder_and_task_check(tiny_checkpoint):
    agent = Agent.from_pretrained(str(tiny_checkpoint), planner="mppi", device="cpu", num_samples=8, n_iters=1,
                                  topk=2)
    assert agent.image_size == 32 and agent.planner.num_samples == 8
    with pytest.raises(ValueError, match="trained for task 'reacher'"):
        make_agent(str(tiny_checkpoint), task="pointmass")
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        Agent.from_pretrained("/nonexistent/ckpt")


def test_icem_shifts_its_elites_by_the_receding_horizon(tiny_checkpoint):
    agent = make_agent(str(tiny_checkpoint), planner="icem", device="cpu", receding_horizon=2, num_samples=20,
                       n_iters=2, horizon=3)
    assert agent.planner.shift_steps == 2
    agent.set_goal(frame(0))
    assert agent.act(frame(1)).shape == (2,)


def test_planner_box_maps_env_box_to_normalised_units():
    wm = LeWM(tiny_config(action_mean=[0.1, -0.2], action_std=[0.5, 0.5]))
    low, high = Agent.planner_box(wm)
    torch.testing.assert_close(low[:2], torch.tensor([(-1 - 0.1) / 0.5, (-1 + 0.2) / 0.5]))
    torch.testing.assert_close(high[:2], torch.tensor([(1 - 0.1) / 0.5, (1 + 0.2) / 0.5]))


def test_gymnasium_loop_with_agent():
    """The README's gymnasium loop, on a tiny model: the agent drives a real env for a few steps."""
    import gymnasium as gym

    import envs  # noqa: F401

    env = gym.make("lewm/Reacher-v0", image_size=32)
    agent = small_agent()
    obs, info = env.reset(seed=0)
    agent.set_goal(info["goal"])
    for _ in range(7):
        obs, reward, terminated, truncated, info = env.step(agent.act(obs))
        if terminated or truncated:
            break
    env.close()
    assert obs.shape == (32, 32, 3)


@pytest.mark.slow
def test_vector_env_loop():
    import gymnasium as gym

    import envs  # noqa: F401

    venv = gym.vector.SyncVectorEnv([lambda: gym.make("lewm/Reacher-v0", image_size=32) for _ in range(3)])
    agent = small_agent()
    obs, info = venv.reset(seed=0)
    agent.set_goal(info["goal"])
    for _ in range(6):
        obs, *_ = venv.step(agent.act(obs))
    assert obs.shape == (3, 32, 32, 3)
    venv.close()
