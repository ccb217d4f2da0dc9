"""Summary lines a user can read: the cube's and Push-T's extra measures in words and units, and which test
"success" is where there is a choice (Push-T's pose test against gym-pusht's coverage test)."""

import pytest
from cli_faults import run_command

from agent.metric_words import describe
from agent.report import _metrics_cell
from envs.pusht import PushTEnv


def test_cube_measures_in_centimetres():
    assert describe("closest_reach", 0.002) == "the gripper came within 0.2 cm of the cube"
    assert describe("highest_lift", 0.229) == "the cube was lifted 22.9 cm at most"


def test_pusht_measures_in_words():
    assert describe("coverage", 0.873) == "the block covers 87 % of the goal T"
    assert describe("coverage_success", 0.0) == "coverage test (block over 95 % of the goal T): not passed"
    assert describe("coverage_success", 0.12, mean=True).endswith("passed in 12 % of episodes")
    assert describe("angle_error", 3.14159 / 2) == "block turned 90° from its goal"
    assert describe("unknown_measure", 1.5) == "unknown_measure 1.500"


def test_which_success_test():
    for success, words in (("pose", "pose test"), ("coverage", "coverage test")):
        env = PushTEnv(image_size=16, success=success)
        assert words in env.success_words()
        env.close()


def test_eval_table_cell_in_words():
    cell = _metrics_cell({"metrics": {"closest_reach": 0.05, "highest_lift": 0.01}})
    assert cell == "the gripper came within 5.0 cm of the cube (mean); the cube was lifted 1.0 cm at most (mean)"


@pytest.mark.slow
def test_lewm_plan_pusht_line_names_its_test(tmp_path):
    result = run_command("lewm-plan", "--env", "pusht", "--goal", "agent/examples/pusht_goal.png", "--steps", 5,
                         "--samples", 8, "--iters", 1, "--no-progress")
    assert result.returncode == 0, result.stderr[-2000:]
    line = result.stdout.strip().splitlines()[-1]
    assert "(the pose test: pusher and block within 20 px" in line
    assert "coverage test (block over 95 % of the goal T): " in line and "coverage_success" not in line
