"""Value-guided subgoals: the reachable data frame with the fewest blocks left to the goal."""

import pytest
import torch

from agent.value_subgoals import ValueSubgoals


class LineValue(torch.nn.Module):
    """A perfect value on a line embedded in 2-D: blocks = |goal_x - z_x|."""

    def __init__(self):
        super().__init__()
        self.p = torch.nn.Parameter(torch.zeros(()))

    def forward(self, z, goal):
        return (goal[..., 0] - z[..., 0]).abs()


def line_nodes(n=11):
    return torch.stack([torch.arange(n, dtype=torch.float32), torch.zeros(n)], 1)  # x = 0 .. 10


def test_aims_at_the_reachable_frame_nearest_the_goal_then_at_the_goal():
    # reach: squared distance / (2 D) <= 1 -> within 2 units of x
    high = ValueSubgoals(LineValue(), line_nodes(), reach=1.0, goal_blocks=1.5)
    current = torch.tensor([[0.0, 0.0], [9.0, 0.0], [5.0, 0.0]])
    goal = torch.tensor([[10.0, 0.0], [10.0, 0.0], [0.0, 0.0]])
    targets = high.subgoals(current, goal)
    assert targets[0].tolist() == [2.0, 0.0]  # two units ahead: as far as reach allows
    assert targets[1].tolist() == [10.0, 0.0]  # within 1.5 blocks: the goal itself
    assert targets[2].tolist() == [3.0, 0.0]  # the other way
    assert len(high._to_goal) == 2  # values of the frames cached per goal


def test_a_frame_no_nearer_the_goal_than_here_is_not_a_subgoal():
    high = ValueSubgoals(LineValue(), line_nodes(3), reach=0.1, goal_blocks=0.0)  # nodes at 0, 1, 2
    current, goal = torch.tensor([[2.0, 0.0]]), torch.tensor([[10.0, 0.0]])
    assert high.subgoals(current, goal).tolist() == [[10.0, 0.0]]  # nothing ahead in the data: the goal


@pytest.mark.parametrize("kwargs, message", [({"nodes": torch.zeros(0, 2)}, "non-empty"),
                                             ({"reach": 0.0}, "reach must be positive")])
def test_bad_settings_are_refused(kwargs, message):
    settings = {"nodes": line_nodes(), "reach": 1.0, **kwargs}
    with pytest.raises(ValueError, match=message):
        ValueSubgoals(LineValue(), settings["nodes"], reach=settings["reach"])


def test_the_agent_needs_a_value_for_value_subgoals(tiny_checkpoint):
    from agent.agent import make_agent

    with pytest.raises(ValueError, match="value subgoals rank data frames by the checkpoint's goal value"):
        make_agent(str(tiny_checkpoint), subgoals="value")
