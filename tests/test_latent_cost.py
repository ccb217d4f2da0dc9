"""The planner's goal costs over predicted embeddings: mean, last and nearest step, by hand."""
import pytest
import torch

from agent.latent_cost import COSTS, goal_distance


class _NoReadout:
    state_head = None


@pytest.mark.parametrize("kind, expected", [
    ("all", [[(1 + 4 + 0) / 3, (9 + 9 + 9) / 3]]),
    ("terminal", [[0.0, 9.0]]),
    ("min", [[0.0, 9.0]]),
])
def test_costs_of_hand_made_predictions(kind, expected):
    # One env, two candidates, three predicted steps in 2-D; the goal at the origin.
    z = torch.tensor([[[[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]],
                       [[3.0, 0.0], [0.0, 3.0], [-3.0, 0.0]]]])
    cost = goal_distance(_NoReadout(), torch.zeros(1, 2), kind)(z)
    torch.testing.assert_close(cost, torch.tensor(expected))


def test_min_counts_a_plan_by_the_best_moment_it_passes():
    # Passing through the goal and leaving beats stopping short of it under "min", not under "terminal".
    through = torch.tensor([[3.0], [0.0], [3.0]])
    short = torch.tensor([[2.0], [1.0], [1.0]])
    z = torch.stack([through, short])[None]  # (1, 2, 3, 1)
    goal = torch.zeros(1, 1)
    assert goal_distance(_NoReadout(), goal, "min")(z).argmin() == 0
    assert goal_distance(_NoReadout(), goal, "terminal")(z).argmin() == 1


def test_the_cost_names_are_the_ones_the_cli_offers():
    from agent.cli_eval import build_parser

    choices = next(a.choices for a in build_parser()._actions if a.dest == "cost")
    assert tuple(choices) == COSTS
