"""One planner registry: a new planner is its own class plus one line in ``planners.registry.PLANNERS``."""

import pytest
import torch

from agent.agent import make_agent
from agent.pretrained import make_planner
from planners import CEM
from planners.registry import PLANNERS, planner_class, planner_names


class Toy(CEM):
    """A planner defined outside the package (here: CEM under another name, shifted like iCEM)."""

    shifts_between_plans = True

    def __init__(self, *args, shift_steps: int = 1, **kwargs):
        super().__init__(*args, **kwargs)
        self.shift_steps = shift_steps


def test_names_come_from_the_registry():
    assert planner_names() == list(PLANNERS) and "mppi" in planner_names()
    with pytest.raises(ValueError, match="unknown planner 'nope'; known: cem, mppi"):
        planner_class("nope")


def test_one_registry_line_adds_a_planner(monkeypatch, tiny_checkpoint):
    monkeypatch.setitem(PLANNERS, "toy", Toy)  # the one line a new planner adds
    assert "toy" in planner_names()
    planner = make_planner("toy", 10, -1.0, 1.0, torch.device("cpu"), substeps=5, num_samples=8, n_iters=1)
    assert isinstance(planner, Toy) and planner.num_samples == 8 and planner.substep_correlation > 0
    agent = make_agent(str(tiny_checkpoint), planner="toy", device="cpu", receding_horizon=2, num_samples=8,
                       n_iters=1, waypoints=False)
    assert isinstance(agent.planner, Toy) and agent.planner_name == "toy"
    assert agent.planner.shift_steps == 2  # its trait: shifted by the blocks executed between plans


def test_a_planner_that_needs_a_proposal_is_refused_without_one(monkeypatch, tiny_checkpoint):
    class Follower(Toy):
        needs_proposal = True

    monkeypatch.setitem(PLANNERS, "follower", Follower)
    with pytest.raises(ValueError, match="planner 'follower' follows the checkpoint's proposal policy"):
        make_agent(str(tiny_checkpoint), planner="follower", device="cpu", waypoints=False)

