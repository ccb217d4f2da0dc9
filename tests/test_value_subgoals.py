"""Value-guided subgoals: among the data frames the value puts within reach, the one with the fewest blocks left to
the goal; the frames file they are picked from; the checkpoint's measured choice to use them."""

import shutil
import subprocess

import numpy as np
import pytest
import torch
from conftest import assert_clean_cli_errors, installed_command, model_sha

from agent.subgoal_frames import FILE_NAME, SubgoalFrames, frame_rows
from agent.value_subgoals import ValueSubgoals
from common.cli_errors import UserInputError


class LineValue(torch.nn.Module):
    """A perfect value on a line embedded in 2-D: blocks = |goal_x - z_x|."""

    def __init__(self):
        super().__init__()
        self.p = torch.nn.Parameter(torch.zeros(()))

    def forward(self, z, goal):
        return (goal[..., 0] - z[..., 0]).abs()


class DoorValue(LineValue):
    """A wall at x = 1.5 with its door at y = 5: crossing it costs the way round through the door."""

    def forward(self, z, goal):
        apart = (goal[..., 0] - z[..., 0]).abs()
        crosses = (z[..., 0] < 1.5) != (goal[..., 0] < 1.5)
        detour = (5 - z[..., 1]).abs() + (5 - goal[..., 1]).abs()
        return torch.where(crosses, apart + detour, apart + (goal[..., 1] - z[..., 1]).abs())


def line_nodes(n=11):
    return torch.stack([torch.arange(n, dtype=torch.float32), torch.zeros(n)], 1)  # x = 0 .. 10


def test_aims_at_the_frame_within_reach_nearest_the_goal_then_at_the_goal():
    high = ValueSubgoals(LineValue(), line_nodes(), reach=2.0, goal_blocks=1.5)
    current = torch.tensor([[0.0, 0.0], [9.0, 0.0], [5.0, 0.0]])
    goal = torch.tensor([[10.0, 0.0], [10.0, 0.0], [0.0, 0.0]])
    targets = high.subgoals(current, goal)
    assert targets[0].tolist() == [2.0, 0.0]  # two blocks ahead: as far as reach allows
    assert targets[1].tolist() == [10.0, 0.0]  # within 1.5 blocks: the goal itself
    assert targets[2].tolist() == [3.0, 0.0]  # the other way
    assert len(high._to_goal) == 2  # values of the frames cached per goal (the third env's goal is not far)
    high.reset()
    assert not high._to_goal


def test_reach_is_read_by_the_value_not_by_how_alike_frames_look():
    # The frames just across the wall look nearest (latent distance) but are the farthest by the value: the way
    # to a goal across the wall leads first along the wall to the door, frames that look less alike.
    nodes = torch.tensor([[2.0, 0.0], [1.0, 2.0], [1.0, 4.0], [1.0, 5.0], [2.0, 5.0]])
    high = ValueSubgoals(DoorValue(), nodes, reach=2.5, goal_blocks=0.5)
    target = high.subgoals(torch.tensor([[1.0, 0.0]]), torch.tensor([[3.0, 0.0]]))
    assert target.tolist() == [[1.0, 2.0]]  # along the wall: 2 blocks from here, 9 from the goal


def test_a_goal_near_when_first_seen_is_the_low_levels_alone():
    high = ValueSubgoals(LineValue(), line_nodes(), reach=2.0, goal_blocks=1.0, far=5.0)
    near_goal, far_goal = torch.tensor([[4.0, 0.0]]), torch.tensor([[10.0, 0.0]])
    here = torch.tensor([[0.0, 0.0]])
    assert high.subgoals(here, near_goal).tolist() == [[4.0, 0.0]]  # 4 blocks when first seen: straight at it
    assert high.subgoals(here, far_goal).tolist() == [[2.0, 0.0]]  # 10 blocks: a subgoal
    assert high.subgoals(torch.tensor([[6.0, 0.0]]), far_goal).tolist() == [[8.0, 0.0]]  # still far: subgoals on
    high.reset()
    assert high.subgoals(torch.tensor([[6.0, 0.0]]), far_goal).tolist() == [[10.0, 0.0]]  # seen anew, 4 blocks
    unset = ValueSubgoals(LineValue(), line_nodes(), reach=2.0, goal_blocks=1.0)
    assert unset.subgoals(here, near_goal).tolist() == [[2.0, 0.0]]  # without far, every goal gets subgoals


def test_only_the_nearest_candidates_are_ranked():
    high = ValueSubgoals(LineValue(), line_nodes(), reach=5.0, goal_blocks=0.0, candidates=2)
    # nearest two frames to x = 0: x = 0 and x = 1; x = 1 is nearer the goal
    assert high.subgoals(torch.tensor([[0.0, 0.0]]), torch.tensor([[10.0, 0.0]])).tolist() == [[1.0, 0.0]]


def test_a_frame_no_nearer_the_goal_than_here_is_not_a_subgoal():
    high = ValueSubgoals(LineValue(), line_nodes(3), reach=0.5, goal_blocks=0.0)  # nodes at 0, 1, 2
    current, goal = torch.tensor([[2.0, 0.0]]), torch.tensor([[10.0, 0.0]])
    assert high.subgoals(current, goal).tolist() == [[10.0, 0.0]]  # nothing ahead in the data: the goal


@pytest.mark.parametrize("kwargs, message", [({"nodes": torch.zeros(0, 2)}, "non-empty"),
                                             ({"reach": 0.0}, "reach must be positive"),
                                             ({"goal_blocks": -1.0}, "goal_blocks at least 0"),
                                             ({"candidates": 0}, "candidates must be at least 1"),
                                             ({"far": -1.0}, "far must be at least 0")])
def test_bad_settings_are_refused(kwargs, message):
    settings = {"nodes": line_nodes(), **kwargs}
    with pytest.raises(ValueError, match=message):
        ValueSubgoals(LineValue(), **settings)


def test_frame_rows_take_every_nth_frame_of_whole_episodes():
    rows = frame_rows(np.array([0, 10, 16]), np.array([10, 6, 4]), every=3, max_frames=100)
    assert rows.tolist() == [0, 3, 6, 9, 10, 13, 16, 19]
    assert len(frame_rows(np.array([0, 10]), np.array([10, 10]), every=1, max_frames=5)) == 5
    with pytest.raises(ValueError, match="every and max_frames must be >= 1"):
        frame_rows(np.array([0]), np.array([4]), every=0, max_frames=5)


def test_frames_file_round_trip_in_float16(tmp_path):
    frames = SubgoalFrames.of(torch.randn(7, 4), reach=2.0)
    path = frames.save(tmp_path, info={"every": 5}, model_sha256="ab" * 32)
    assert path.name == FILE_NAME
    back = SubgoalFrames.load(tmp_path)
    assert back.dims == {"count": 7, "embed_dim": 4, "reach": 2.0, "goal_blocks": 3.0, "far": None}
    high = back.high_level(LineValue())
    assert high.reach == 2.0 and high.goal_blocks == 3.0 and torch.equal(high.nodes, back.frames)
    assert torch.allclose(back.frames, frames.frames.half().float()) and back.frames.dtype == torch.float32
    assert back.info == {"every": 5} and back.model_sha256 == "ab" * 32
    bad = SubgoalFrames.of(torch.full((2, 4), float("nan")))
    bad.save(tmp_path / "bad.safetensors")
    with pytest.raises(UserInputError, match="non-finite"):
        SubgoalFrames.load(tmp_path / "bad.safetensors")


def value_checkpoint(tiny_checkpoint, tmp_path):
    """A copy of the tiny checkpoint with an (untrained) goal value of its own."""
    from world_model.policies.value import GoalValue

    folder = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, folder)
    torch.manual_seed(0)
    GoalValue(32, hidden=16, depth=1).save(folder, model_sha256=model_sha(folder))
    return folder


def test_the_agent_needs_a_value_for_value_subgoals(tiny_checkpoint):
    from agent.agent import make_agent

    with pytest.raises(ValueError, match="value subgoals rank data frames by the checkpoint's goal value"):
        make_agent(str(tiny_checkpoint), subgoals="value")


def test_lewm_subgoal_frames_builds_what_the_agent_and_planning_json_use(tiny_checkpoint, tiny_reacher_h5, tmp_path):
    from agent.agent import make_agent
    from agent.planner_choice import write_planner_choice

    folder = value_checkpoint(tiny_checkpoint, tmp_path)
    with pytest.raises(ValueError, match="has neither subgoal_frames.safetensors nor waypoints.npz"):
        make_agent(str(folder), subgoals="value")
    done = subprocess.run([installed_command("lewm-subgoal-frames"), "--checkpoint", str(folder), "--data",
                           str(tiny_reacher_h5), "--every", "4", "--max-frames", "20", "--goal-blocks", "1",
                           "--far", "8", "--no-progress"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    frames = SubgoalFrames.load(folder)
    assert frames.frames.shape == (20, 32) and frames.model_sha256 == model_sha(folder)
    assert frames.info["every"] == 4 and frames.info["frames_per_file"] == [20]

    agent = make_agent(str(folder), subgoals="value")
    assert isinstance(agent.waypoints, ValueSubgoals) and torch.equal(agent.waypoints.nodes, frames.frames)
    assert (agent.waypoints.goal_blocks, agent.waypoints.reach, agent.waypoints.far) == (1.0, 3.0, 8.0)
    assert make_agent(str(folder)).waypoints is None  # not without the measured choice
    write_planner_choice(folder, "mppi", "test", {"subgoals": "value", "replan_steps": 1})
    chosen = make_agent(str(folder))
    assert isinstance(chosen.waypoints, ValueSubgoals) and chosen.replan_steps == 1
    off = make_agent(str(folder), subgoals=False, replan_steps=5)  # --no-subgoals --replan-steps 5
    assert off.waypoints is None and off.replan_steps == 5


def test_lewm_subgoal_frames_bad_input_is_one_clear_line(tiny_checkpoint, tiny_reacher_h5):
    cmd = [installed_command("lewm-subgoal-frames"), "--checkpoint", str(tiny_checkpoint), "--data",
           str(tiny_reacher_h5), "--every", "5", "--max-frames", "10", "--out", "x.safetensors", "--reach", "3"]
    assert_clean_cli_errors(cmd, [
        (("--every", "0"), "--every must be at least 1, got 0"),
        (("--max-frames", "70000"), "--max-frames must be in [1, 65536], got 70000"),
        (("--out", "frames.npz"), "--out must name a .safetensors file"),
        (("--data", "missing.h5"), "no dataset missing.h5"),
        (("--reach", "0"), "--reach must be positive, --goal-blocks and --far at least 0, got 0.0, 3.0 and None"),
    ])


@pytest.mark.slow
def test_the_shipped_cube_aims_far_goals_at_value_subgoals():
    from agent.agent import make_agent
    from agent.pretrained import shipped_checkpoints
    from world_model import LeWM

    folder = shipped_checkpoints()["cube"]
    frames = SubgoalFrames.load(folder)
    assert frames.model_sha256 == model_sha(folder) and frames.frames.shape[1] == LeWM.load(folder).cfg.embed_dim
    agent = make_agent("cube")  # planning.json chooses them
    high = agent.waypoints
    assert isinstance(high, ValueSubgoals) and (high.reach, high.goal_blocks, high.far) == (2.0, 3.0, 10.0)
    assert make_agent("cube", subgoals=False).waypoints is None
    assert not (folder / "waypoints_directed.npz").exists()  # retired: 1/25 on OGBench's tasks (docs/value.md)
