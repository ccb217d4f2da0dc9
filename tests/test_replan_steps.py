"""Replanning within an action block (``replan_steps``): the history stays one block apart and ends at the current
step, each plan starts at the current step, and the warm start is shifted by the env steps executed."""

import numpy as np
import pytest
import torch
from conftest import tiny_config
from test_agent import frame, small_agent

from agent.episode_state import EpisodeState
from world_model import LeWM


def test_history_is_one_block_apart_ending_now():
    state = EpisodeState(1, history_size=3, horizon=2, block_dim=10, frameskip=5, action_dim=2,
                         device=torch.device("cpu"), replan_steps=1)
    ticks = 12
    for t in range(ticks):
        state.push(torch.full((1, 4), float(t)), np.array([0]))
        state.last_chunk[:] = torch.tensor([[t, -t]], dtype=torch.float32)  # the action executed at step t
    assert state.blocks_held([0]).tolist() == [3]
    z, a = state.history([0], 3)
    assert z[0, :, 0].tolist() == [1.0, 6.0, 11.0]  # steps 11 - 10, 11 - 5, 11
    # the blocks between: the actions of steps 1..5 and 6..10, in order
    assert a.shape == (1, 2, 10)
    assert a[0, 0, 0::2].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0] and a[0, 1, 0::2].tolist() == [6.0, 7.0, 8.0, 9.0, 10.0]


def test_early_history_counts_whole_blocks_only():
    state = EpisodeState(2, history_size=3, horizon=2, block_dim=10, frameskip=5, action_dim=2,
                         device=torch.device("cpu"), replan_steps=1)
    for _ in range(7):
        state.push(torch.zeros(2, 4), np.array([0, 1]))
    assert state.blocks_held([0, 1]).tolist() == [2, 2]  # steps 6 and 1; step -4 does not exist


def spy_on_plans(agent) -> tuple[list, list]:
    """Records each planner call's warm start (None on a cold start) and returned plan, in order."""
    inits, plans = [], []
    original = agent.planner.plan

    def spy(cost_fn, batch_size, init_mean=None, **kw):
        inits.append(None if init_mean is None else init_mean.clone())
        result = original(cost_fn, batch_size=batch_size, init_mean=init_mean, **kw)
        plans.append(result.actions.clone())
        return result

    agent.planner.plan = spy
    return inits, plans


def test_replans_every_step_and_executes_the_plans_first_step():
    agent = small_agent(replan_steps=1, horizon=3)
    agent.set_goal(frame(0))
    _, plans = spy_on_plans(agent)
    acts = []
    for step in range(2 * agent.frameskip + 1):
        acts.append(agent.act(frame(step)))
    assert len(plans) == 2 * agent.frameskip + 1
    first = agent.world_model.denormalize_actions(plans[-1][0, 0]).clamp(-1, 1).reshape(agent.frameskip, 2)[0]
    np.testing.assert_allclose(acts[-1], first.numpy(), atol=1e-6)
    assert agent._z_hist.shape == (1, 3, 32) and agent._a_hist.shape == (1, 2, 10)


def test_warm_start_is_shifted_by_env_steps():
    agent = small_agent(replan_steps=1, horizon=2)
    agent.set_goal(frame(0))
    inits, plans = spy_on_plans(agent)
    agent.act(frame(1))
    agent.act(frame(2))
    steps_before = plans[0].reshape(1, -1, 2)
    steps_init = inits[1].reshape(1, -1, 2)
    torch.testing.assert_close(steps_init[:, :-1], steps_before[:, 1:])
    assert torch.all(steps_init[:, -1] == 0)


def test_the_default_replans_once_per_block():
    agent = small_agent()
    assert agent.replan_steps == agent.frameskip
    agent.set_goal(frame(0))
    for step in range(2 * agent.frameskip):
        agent.act(frame(step))
    assert len(agent.plan_seconds) == 2


@pytest.mark.parametrize("kwargs, message", [
    ({"replan_steps": 2}, "divide the model.s frameskip 5"),
    ({"replan_steps": 0}, "divide the model.s frameskip 5"),
    ({"replan_steps": 6}, "divide the model.s frameskip 5"),
    ({"replan_steps": 1, "receding_horizon": 2}, "receding_horizon must be 1"),
])
def test_bad_replan_steps_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        small_agent(**kwargs)


def test_actions_normalise_per_env_step():
    wm = LeWM(tiny_config())
    wm.cfg.action_mean, wm.cfg.action_std = [0.5, -0.2], [2.0, 0.5]
    block = torch.randn(3, wm.cfg.action_block_dim)
    step = block[:, : wm.cfg.action_dim]
    torch.testing.assert_close(wm.normalize_actions(step),
                               (step - torch.tensor([0.5, -0.2])) / torch.tensor([2.0, 0.5]))
    torch.testing.assert_close(wm.normalize_actions(step), wm.normalize_actions(block)[:, : wm.cfg.action_dim])
    with pytest.raises(ValueError, match="multiple of 2"):
        wm.normalize_actions(torch.zeros(3, 3))
