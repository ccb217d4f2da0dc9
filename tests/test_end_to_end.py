"""Per task, as a user would run it: collect a few episodes, train a few steps, build waypoints, evaluate.

Real dm_control / MuJoCo episodes and our own commands (installed entry points, CleanRL-style subprocesses) at
toy sizes: 4 episodes of 30 steps at 32 px, 4 training steps, 2 evaluation episodes of 5 steps.
"""
import json
import subprocess

import pytest
import yaml
from conftest import installed_command

pytestmark = pytest.mark.slow  # commands run end to end: left out by make test-fast

TINY_MODEL = dict(preset="cpu", image_size=32, cnn_channels=[8, 16, 32], embed_dim=32, proj_hidden=64, pred_depth=1,
                  pred_heads=2, pred_dim_head=16, pred_mlp_dim=64, sigreg_projections=32, batch_size=4, steps=4,
                  eval_every=4, eval_batches=1, log_every=1, checkpoint_every=4, precision="fp32")
POLICY = {"reacher": "held_random", "pointmass": "held_random", "tworoom": "door_seeking"}


def run(exe, *args):
    result = subprocess.run([installed_command(exe), *map(str, args)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{exe} failed:\n{result.stderr[-2000:]}"
    return result


@pytest.mark.parametrize("task", ["reacher", "pointmass", "tworoom"])
def test_collect_train_waypoints_evaluate(task, tmp_path):
    from agent.waypoints import FILE_NAME, build_waypoints
    from world_model import LeWM

    data = tmp_path / f"{task}.h5"
    run("lewm-collect", "--env", task, "--episodes", 4, "--steps", 30, "--image-size", 32, "--policy", POLICY[task],
        "--workers", 1, "--no-progress", "--out", data)
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY_MODEL))
    run("lewm-train", "--config", config, "--data", data, "--out", tmp_path / "run", "--no-progress")
    model_dir = tmp_path / "run" / "model"
    model = LeWM.load(model_dir)
    assert model.cfg.task == task  # taken from the dataset
    build_waypoints(model, data, link=0.05, reach=0.2, progress=False).save(model_dir / FILE_NAME)

    out = tmp_path / "eval"
    run("lewm-eval", "--env", task, "--checkpoint", model_dir, "--eval-data", data, "--suite", "lewm", "--episodes", 2,
        "--budget", 5, "--samples", 8, "--iters", 1, "--horizon", 2, "--no-progress", "--out", out)
    (row,) = json.loads((out / "results.json").read_text())
    assert (row["task"], row["planner"], row["episodes"]) == (task, "mppi+waypoints", 2)
    assert row["error_unit"] == ("rad" if task == "reacher" else "m")
    assert all(e["steps"] <= 5 and e["final_error"] >= 0 for e in row["per_episode"])
