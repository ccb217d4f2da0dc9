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


class _Readout:
    """A model whose state readout reads z's entries as they are: targets = z[:, :6] for a 5-entry qpos whose last
    entry is an angle (targets qpos0-3, cos and sin of qpos4), as Push-T's."""

    def __init__(self):
        from world_model.model.state_head import StateHead

        self.state_head = StateHead(6, [0.0] * 6, [1.0] * 6, angle_qpos=[4])
        with torch.no_grad():
            self.state_head.readout.weight.copy_(torch.eye(6))
            self.state_head.readout.bias.zero_()


def test_each_readout_target_names_the_qpos_entry_it_reads():
    assert _Readout().state_head.target_qpos() == [0, 1, 2, 3, 4, 4]


@pytest.mark.parametrize("success_qpos, expected", [
    (None, [[1.0 + 4.0, 9.0]]),   # every entry: the pusher's move (entries 0, 1) counts
    ((), [[1.0 + 4.0, 9.0]]),
    ((2, 3, 4), [[0.0, 9.0]]),    # the block only: a plan that moves the pusher alone is at the goal
    ((0,), [[1.0, 0.0]]),
])
def test_the_readout_costs_count_only_what_the_success_test_reads(success_qpos, expected):
    # One env, two candidates, one predicted step: the first moves the pusher (entries 0, 1), the second the block.
    z = torch.zeros(1, 2, 1, 6)
    z[0, 0, 0, :2] = torch.tensor([1.0, 2.0])
    z[0, 1, 0, 2] = 3.0
    for kind in ("readout", "readout_min"):
        cost = goal_distance(_Readout(), torch.zeros(1, 6), kind, success_qpos=success_qpos)(z)
        torch.testing.assert_close(cost, torch.tensor(expected))


@pytest.mark.parametrize("model, success_qpos, message", [
    (_NoReadout(), None, "state readout"),
    (_Readout(), (7,), "names no entry"),
])
def test_a_readout_cost_the_model_cannot_give_is_refused(model, success_qpos, message):
    with pytest.raises(ValueError, match=message):
        goal_distance(model, torch.zeros(1, 6), "readout", success_qpos=success_qpos)


def test_the_tasks_say_what_their_success_test_reads():
    from envs.cube import CUBE_XYZ, CubeEnv
    from envs.pusht import PushTEnv
    from envs.task import TaskBase

    assert CubeEnv.success_qpos == (14, 15, 16) == tuple(range(CUBE_XYZ.start, CUBE_XYZ.stop))
    assert TaskBase.success_qpos == ()
    coverage, pose = object.__new__(PushTEnv), object.__new__(PushTEnv)
    coverage.success, pose.success = "coverage", "pose"
    assert coverage.success_qpos == (2, 3, 4) and pose.success_qpos == ()


def test_value_readout_reads_the_latent_where_the_success_test_reads_everything():
    from agent.latent_cost import latent_goal_cost

    class Model(_Readout):
        def rollout(self, z_hist, a_hist, candidates):  # the candidates are the predicted embeddings
            return candidates

    class Far(torch.nn.Module):  # a value that puts every goal 1 block away: always near
        def forward(self, z, goal):
            return torch.ones(torch.broadcast_shapes(z.shape, goal.shape)[:-1])

    value = Far()
    value.p = torch.nn.Parameter(torch.zeros(()))
    z = torch.zeros(1, 2, 1, 6)
    z[0, 0, 0, :2] = torch.tensor([1.0, 2.0])  # the pusher moved
    z[0, 1, 0, 2] = 3.0                         # the block moved
    ctx = torch.autocast("cpu", enabled=False)
    hist, goal = torch.zeros(1, 1, 6), torch.zeros(1, 6)
    block = latent_goal_cost(Model(), hist, None, goal, "value_readout", lambda: ctx, value, (2, 3, 4))(z)
    every = latent_goal_cost(Model(), hist, None, goal, "value_readout", lambda: ctx, value, ())(z)
    torch.testing.assert_close(block, torch.tensor([[0.0, 9.0]]))
    torch.testing.assert_close(every, torch.tensor([[5.0, 9.0]]))
