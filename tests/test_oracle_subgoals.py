"""experiments/cube/cube_oracle_subgoals.py: the perfect high level hands the embedding ``lead`` blocks past the agent's
progress, never goes back, and hands the goal itself once the path runs out or with lead 0."""

import torch

from experiment_scripts import load_script as _load


def load_script():
    return _load("cube_oracle_subgoals")


def path_and_goal():
    path = torch.arange(6, dtype=torch.float32)[:, None].repeat(1, 3)  # path block k embeds as (k, k, k)
    return path, torch.full((1, 3), 99.0)


def test_leads_past_progress_and_never_goes_back():
    path, goal = path_and_goal()
    high = load_script().OraclePathSubgoals(path, lead=2)
    current = torch.full((4, 3), 1.1)  # nearest to block 1, batch of 4 candidates
    assert torch.equal(high.subgoals(current, goal), torch.full((4, 3), 3.0))
    high.subgoals(torch.full((1, 3), 2.0), goal)
    assert high.progress == 2
    assert torch.equal(high.subgoals(torch.zeros(1, 3), goal), torch.full((1, 3), 4.0))  # back at the start
    assert high.progress == 2


def test_hands_the_goal_when_the_path_runs_out_or_with_lead_zero():
    path, goal = path_and_goal()
    module = load_script()
    assert torch.equal(module.OraclePathSubgoals(path, lead=2).subgoals(torch.full((2, 3), 4.0), goal),
                       goal.expand(2, -1))
    assert torch.equal(module.OraclePathSubgoals(path, lead=0).subgoals(torch.zeros(2, 3), goal), goal.expand(2, -1))
