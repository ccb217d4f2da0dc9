"""``lewm-plan`` and ``lewm-eval`` run as installed commands on a tiny model, and their user errors."""

import json
import shutil
import subprocess

import numpy as np
import pytest
from conftest import installed_command

pytestmark = pytest.mark.slow  # commands run end to end: left out by make test-fast

FAST = ["--samples", "8", "--iters", "1", "--horizon", "2", "--device", "cpu", "--no-progress"]


def run(exe, *args, cwd=None):
    return subprocess.run([installed_command(exe), *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


@pytest.fixture(scope="module")
def goal_png(tmp_path_factory, tiny_checkpoint):
    path = tmp_path_factory.mktemp("goal") / "goal.png"
    result = run("lewm-plan", "--env", "reacher", "--make-goal", path, "--seed", 3, "--checkpoint", tiny_checkpoint)
    assert result.returncode == 0, result.stderr
    assert "goal pose qpos" in result.stdout
    return path


def test_make_goal_writes_a_png_with_its_pose(goal_png):
    from PIL import Image

    from agent.goal_files import read_goal_pose

    assert Image.open(goal_png).size == (32, 32)
    task, qpos = read_goal_pose(goal_png)
    assert task == "reacher" and qpos.shape == (2,)


def test_plan_runs_and_prints_one_summary_line(goal_png, tiny_checkpoint, tmp_path):
    video = tmp_path / "ep.gif"
    result = run("lewm-plan", "--env", "reacher", "--goal", goal_png, "--checkpoint", tiny_checkpoint,
                 "--steps", 6, "--video", video, *FAST)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("success: ") and "final joint error" in lines[0] and "per replan" in lines[0]
    assert video.stat().st_size > 0


def test_plan_with_start_state_and_a_plain_goal_image(tiny_checkpoint, tmp_path):
    from PIL import Image

    plain = tmp_path / "plain.jpg"
    Image.fromarray(np.zeros((50, 50, 3), np.uint8)).save(plain)
    result = run("lewm-plan", "--goal", plain, "--checkpoint", tiny_checkpoint, "--steps", 3,
                 "--start-state", "0.5,-0.5", *FAST)
    assert result.returncode == 0, result.stderr
    assert "success: unknown" in result.stdout


def test_plan_refuses_a_checkpoint_for_another_task(goal_png, tiny_checkpoint, tmp_path):
    import yaml

    other = tmp_path / "other"
    shutil.copytree(tiny_checkpoint, other)
    cfg = yaml.safe_load((other / "config.yaml").read_text())
    cfg["task"] = "pointmass"
    (other / "config.yaml").write_text(yaml.safe_dump(cfg))
    result = run("lewm-plan", "--goal", goal_png, "--checkpoint", other, *FAST)
    assert result.returncode == 2 and "trained for task 'pointmass', not 'reacher'" in result.stderr


def test_eval_writes_json_markdown_and_plot(tiny_checkpoint, tiny_reacher_h5, tmp_path):
    out = tmp_path / "eval"
    result = run("lewm-eval", "--env", "reacher", "--suite", "lewm", "--suite", "free", "--planner", "cem",
                 "--planner", "mppi", "--episodes", 3, "--budget", 6, "--checkpoint", tiny_checkpoint,
                 "--eval-data", tiny_reacher_h5, "--out", out, *FAST)
    assert result.returncode == 0, result.stderr
    runs = json.loads((out / "results.json").read_text())
    assert {(r["suite"], r["planner"]) for r in runs} == {("lewm", "cem"), ("free", "cem"), ("lewm", "mppi"),
                                                           ("free", "mppi")}
    for r in runs:
        assert r["episodes"] == 3 and 0 <= r["ci95"][0] <= r["success_rate"] <= r["ci95"][1] <= 1
        assert len(r["per_episode"]) == 3 and r["plan_seconds_per_replan"] > 0
    assert "| reacher | lewm | cem |" in (out / "results.md").read_text()
    assert (out / "results.png").stat().st_size > 1000


def test_eval_lewm_suite_without_data_is_a_clear_error(tiny_checkpoint, tmp_path):
    result = run("lewm-eval", "--suite", "lewm", "--episodes", 1, "--checkpoint", tiny_checkpoint,
                 "--out", tmp_path, *FAST)
    assert result.returncode == 2 and "needs held-out trajectories" in result.stderr


@pytest.mark.parametrize("where", ["checkpoint", "file"])
def test_eval_with_waypoints_labels_its_rows(tiny_checkpoint, tiny_reacher_h5, tmp_path, where):
    """The checkpoint's own waypoints.npz with --waypoints, or a graph elsewhere with --waypoints FILE."""
    from agent.waypoints import FILE_NAME, build_waypoints
    from world_model import LeWM

    folder = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, folder)
    graph = build_waypoints(LeWM.load(folder), tiny_reacher_h5, link=0.01, reach=0.02, progress=False)
    graph_file = folder / FILE_NAME if where == "checkpoint" else tmp_path / "directed.npz"
    graph.save(graph_file)
    option = ["--waypoints"] if where == "checkpoint" else ["--waypoints", graph_file]
    out = tmp_path / "eval"
    result = run("lewm-eval", "--suite", "free", "--episodes", 2, "--budget", 4, "--checkpoint", folder,
                 *option, "--out", out, *FAST)
    assert result.returncode == 0, result.stderr
    (row,) = json.loads((out / "results.json").read_text())
    assert row["planner"] == "mppi+waypoints" and row["settings"]["waypoints"] is True


def test_eval_with_value_subgoals_labels_and_records_them(tiny_checkpoint, tiny_reacher_h5, tmp_path):
    """--subgoals value over the checkpoint's subgoal frames: the row's label and its settings say so, which is what
    lewm-choose-planner --setting subgoals=value counts."""
    from conftest import model_sha
    from test_value_subgoals import value_checkpoint

    from agent.subgoal_frames import build_subgoal_frames
    from world_model import LeWM

    folder = value_checkpoint(tiny_checkpoint, tmp_path)
    frames, _ = build_subgoal_frames(LeWM.load(folder), [tiny_reacher_h5], every=4, max_frames=20, progress=False)
    frames.save(folder, model_sha256=model_sha(folder))
    out = tmp_path / "eval"
    result = run("lewm-eval", "--suite", "free", "--episodes", 2, "--budget", 4, "--checkpoint", folder,
                 "--subgoals", "value", "--out", out, *FAST)
    assert result.returncode == 0, result.stderr
    (row,) = json.loads((out / "results.json").read_text())
    assert row["planner"] == "mppi+value-subgoals" and row["settings"]["subgoals"] == "value"
