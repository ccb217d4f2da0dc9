"""Gradient refinement of a plan (``agent.gradient_refine``) on a tiny untrained model: it lowers the model's cost,
never returns a plan scored worse than its input, stays in the action box, leaves the model alone, and the agent
runs it after its planner."""

import numpy as np
import pytest
import torch
from conftest import DEVICES
from test_agent import frame, small_agent
from test_fast_rollout import trained_like

from agent.gradient_refine import refine_plan
from agent.latent_cost import latent_goal_cost
from world_model.rollout.precision import autocast_context


def problem(device="cpu", batch=3, horizon=4):
    """A tiny model, histories, a box and targets reachable inside it (predicted ends of random in-box plans)."""
    wm = trained_like(device=device)  # AdaLN-zero gates perturbed: an untrained model ignores its actions
    d, a = wm.cfg.embed_dim, wm.cfg.action_block_dim
    z_hist = torch.randn(batch, 2, d, device=device)
    a_hist = torch.randn(batch, 1, a, device=device) * 0.5
    low, high = -torch.ones(a, device=device), torch.ones(a, device=device)
    source = torch.rand(batch, horizon, a, device=device) * 2 - 1
    with torch.no_grad():
        target = wm.rollout(z_hist, a_hist, source[:, None])[:, 0, -1]
    return wm, z_hist, a_hist, target, low, high, source


def exact_cost(wm, z_hist, a_hist, target, plan, kind="all"):
    cost = latent_goal_cost(wm, z_hist, a_hist, target, kind, lambda: autocast_context(z_hist.device, "fp32"))
    return cost(plan[:, None])[:, 0]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kind", ["all", "terminal"])
def test_refinement_lowers_the_cost_inside_the_box(device, kind):
    wm, z_hist, a_hist, target, low, high, source = problem(device)
    start = torch.zeros_like(source)
    before = exact_cost(wm, z_hist, a_hist, target, start, kind)
    made_target = exact_cost(wm, z_hist, a_hist, target, source, kind)
    plan, cost = refine_plan(wm, z_hist, a_hist, target, start, low, high, steps=30, lr=0.1, kind=kind)
    assert plan.shape == start.shape and cost.shape == (3,)
    assert bool((plan >= low).all() and (plan <= high).all())
    # At least half the way from the start to the cost of the plans whose predicted end is the target.
    assert bool((cost < before - 0.5 * (before - made_target)).all()), (cost, before, made_target)
    # The returned cost is the returned plan's cost under the planner's own (fast, inference) path.
    torch.testing.assert_close(cost, exact_cost(wm, z_hist, a_hist, target, plan, kind), rtol=1e-4, atol=1e-5)


def test_never_returns_a_plan_scored_worse_than_its_input():
    wm, z_hist, a_hist, target, low, high, source = problem()
    # Under the terminal cost the source plans reach their targets exactly: a step can only make them worse, and
    # must not be kept.
    plan, cost = refine_plan(wm, z_hist, a_hist, target, source, low, high, steps=3, lr=5.0, kind="terminal")
    torch.testing.assert_close(plan, source)
    assert bool((cost <= exact_cost(wm, z_hist, a_hist, target, source, "terminal") + 1e-6).all())


def test_the_model_is_left_alone():
    wm, z_hist, a_hist, target, low, high, _ = problem()
    weights = {k: v.clone() for k, v in wm.state_dict().items()}
    with torch.inference_mode():  # the agent's histories may come from inference mode
        z_inf, a_inf, t_inf = z_hist.clone(), a_hist.clone(), target.clone()
    refine_plan(wm, z_inf, a_inf, t_inf, torch.zeros(3, 4, wm.cfg.action_block_dim), low, high, steps=2, lr=0.1)
    assert all(p.grad is None for p in wm.parameters())
    assert all(torch.equal(v, weights[k]) for k, v in wm.state_dict().items())


@pytest.mark.parametrize("steps, lr", [(0, 0.1), (-1, 0.1), (3, 0.0), (3, -0.5), (3, float("nan"))])
def test_bad_settings_are_refused(steps, lr):
    wm, z_hist, a_hist, target, low, high, source = problem()
    with pytest.raises(ValueError, match="steps >= 1 and lr > 0"):
        refine_plan(wm, z_hist, a_hist, target, source, low, high, steps=steps, lr=lr)


@pytest.mark.parametrize("steps, lr", [(-1, 0.1), (2, 0.0)])
def test_agent_refuses_bad_settings(steps, lr):
    with pytest.raises(ValueError, match="refine_steps"):
        small_agent(refine_steps=steps, refine_lr=lr)


def test_agent_refines_what_its_planner_returns():
    agent = small_agent(refine_steps=5)
    calls = []

    def recording(*args, **kwargs):
        plan, cost = refine_plan(*args, **kwargs)
        calls.append((args[4].clone(), plan.clone()))
        return plan, cost

    import agent.agent as agent_module

    original = agent_module.refine_plan
    agent_module.refine_plan = recording
    try:
        agent.set_goal(frame(0))
        action = agent.act(np.stack([frame(1), frame(2)]))
    finally:
        agent_module.refine_plan = original
    assert len(calls) == 1 and calls[0][0].shape[0] == 2  # one call for the batch, after the planner's
    refined = calls[0][1]
    torch.testing.assert_close(agent._state.plan[:2], refined)
    assert action.shape == (2, 2) and np.all(np.abs(action) <= 1.0)
