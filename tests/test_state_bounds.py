"""Every task says what a valid state is (``state_problem``): ``reset`` refuses a start or goal outside the world
before changing anything, and the env works on after a refused reset (issue 42)."""

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401 (registers the ids)

# env id -> states outside its world (qpos), with a word of the reason
BAD = {
    "lewm/Reacher-v0": [([1e300, 0.0], "beyond"), ([0.0, 4.0], "joint's range")],  # wrist limited to +-160 deg
    "lewm/PointMass-v0": [([1e300, 0.0], "beyond"), ([0.5, 0.0], "range")],
    "lewm/TwoRoom-v0": [([1e300, 0.0], "beyond"), ([0.0, 0.0], "inside a wall"), ([0.0, -0.2], "inside a wall")],
    "lewm/PushT-v0": [([1e9, 1e9, 200.0, 200.0, 0.0], "beyond"), ([1000.0, 100.0, 200.0, 200.0, 0.0], "off the table"),
                      ([100.0, 100.0, 900.0, 200.0, 0.0], "block")],
}
CASES = [(env_id, key, state, word) for env_id, rows in BAD.items() for state, word in rows
         for key in ("state", "goal_state")]


@pytest.fixture(scope="module")
def made():
    made = {}
    yield lambda env_id: made.setdefault(env_id, gym.make(env_id))
    for env in made.values():
        env.close()


@pytest.mark.parametrize("env_id,key,state,word", CASES,
                         ids=[f"{c[0].split('/')[1]}-{c[1]}-{i}" for i, c in enumerate(CASES)])
def test_reset_outside_the_world_is_refused_and_the_env_works_on(env_id, key, state, word, made):
    env = made(env_id)
    with pytest.raises(ValueError, match=f"{key} is not a state of this task's world") as err:
        env.reset(seed=0, options={key: state})
    assert word in str(err.value)
    obs, _ = env.reset(seed=1)  # gymnasium's checker used to fail the next step with a TypeError
    obs, *_ = env.step(env.action_space.sample())
    assert obs.dtype == np.uint8


def test_a_fresh_env_whose_first_reset_is_refused_still_steps():
    env = gym.make("lewm/PointMass-v0")
    with pytest.raises(ValueError):
        env.reset(seed=0, options={"state": [1e300, 0.0]})
    env.reset(seed=0)
    env.step(env.action_space.sample())
    env.close()


def test_valid_edge_states_are_kept():
    """States the data reach (a joint at its limit, the mass against a wall, the agent beside the door) stay
    valid."""
    env = gym.make("lewm/PointMass-v0")
    env.reset(seed=0, options={"state": [0.29, -0.29]})
    env.close()
    env = gym.make("lewm/Reacher-v0")
    env.reset(seed=0, options={"state": [100.0, 2.79]})  # the shoulder turns freely; the wrist at its limit
    env.close()


@pytest.mark.slow
def test_cube_refuses_a_far_state():
    env = gym.make("lewm/Cube-v0")
    env.reset(seed=0)
    nq = env.unwrapped.nq
    with pytest.raises(ValueError, match="beyond"):
        env.reset(seed=0, options={"state": np.full(nq, 1e300)})
    env.reset(seed=1)
    env.step(env.action_space.sample())
    env.close()


def test_agent_refuses_a_non_finite_refine_lr(tiny_checkpoint):
    from agent import Agent

    with pytest.raises(ValueError, match="refine_lr a finite number"):
        Agent.from_pretrained(str(tiny_checkpoint), device="cpu", refine_steps=1, refine_lr=float("inf"))
