"""A gymnasium env the project has never seen (tests/tiny_gym_env.py, registered by ``--import``) through the
installed lewm-collect, lewm-train, lewm-plan and lewm-eval, and the user errors of that path."""

import json
import os
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from cli_faults import assert_user_error, run_command, run_in_process

TESTS = str(Path(__file__).parent)
ENV = {"PYTHONPATH": os.pathsep.join([TESTS, os.environ.get("PYTHONPATH", "")])}
TINY_MODEL = dict(preset="cpu", image_size=16, cnn_channels=[8, 16, 32], embed_dim=32, proj_hidden=64, pred_depth=1,
                  pred_heads=2, pred_dim_head=16, pred_mlp_dim=64, sigreg_projections=32, batch_size=4, steps=3,
                  eval_every=3, eval_batches=1, log_every=1, checkpoint_every=3, precision="fp32")
FAST = ["--samples", "8", "--iters", "1", "--horizon", "2", "--no-progress"]


def ok(exe, *args, cwd=None):
    result = run_command(exe, *args, cwd=cwd, extra_env=ENV)
    assert result.returncode == 0, f"{exe} failed:\n{result.stderr[-2000:]}"
    return result


@pytest.fixture(scope="module")
def tiny_dot(tmp_path_factory):
    """Collected (6 episodes x 40 steps, 16 px) and trained (3 steps) through the installed commands."""
    root = tmp_path_factory.mktemp("tinydot")
    data = root / "dot.h5"
    ok("lewm-collect", "--import", "tiny_gym_env", "--env", "TinyDot-v0", "--env-kwargs", '{"speed": 0.1}',
       "--action-scale", 0.75, "--episodes", 6, "--steps", 40, "--image-size", 16, "--workers", 1, "--no-progress",
       "--out", data)
    (root / "tiny.yaml").write_text(yaml.safe_dump(TINY_MODEL))
    ok("lewm-train", "--import", "tiny_gym_env", "--config", root / "tiny.yaml", "--data", data, "--out",
       root / "run", "--no-progress")
    return {"data": data, "model": root / "run" / "model", "root": root}


@pytest.mark.slow
def test_collect_records_the_env_its_kwargs_box_and_state(tiny_dot):
    with h5py.File(tiny_dot["data"]) as f:
        assert f["pixels"].shape[1:] == (16, 16, 3) and f["qpos"].shape[1] == 2 and f["qvel"].shape[1] == 2
        assert json.loads(f.attrs["env_kwargs"]) == {"speed": 0.1} and f.attrs["env"] == "TinyDot-v0"
        np.testing.assert_allclose(f.attrs["action_low"], [-1.5, -1.5])  # --action-scale 0.75 of the env's [-2, 2]
        actions = f["action"][:]
    finite = actions[np.isfinite(actions).all(1)]
    assert np.abs(finite).max() > 1.0 and np.abs(finite).max() <= 1.5  # the env's own units, not [-1, 1]


@pytest.mark.slow
def test_checkpoint_records_what_rebuilds_the_env(tiny_dot):
    cfg = yaml.safe_load((tiny_dot["model"] / "config.yaml").read_text())
    assert cfg["task"] == "TinyDot-v0" and cfg["env_kwargs"] == {"speed": 0.1}
    assert cfg["env_import"] == "tiny_gym_env" and cfg["action_low"] == [-1.5, -1.5]


@pytest.mark.slow
def test_plan_to_a_goal_image_of_the_env(tiny_dot, tmp_path):
    goal = tmp_path / "goal.png"  # the checkpoint names its module, but only --import imports it
    ok("lewm-plan", "--import", "tiny_gym_env", "--env", "TinyDot-v0", "--checkpoint", tiny_dot["model"],
       "--make-goal", goal, "--goal-state", "0.5,0.5")
    result = ok("lewm-plan", "--import", "tiny_gym_env", "--env", "TinyDot-v0", "--checkpoint", tiny_dot["model"],
                "--goal", goal, "--steps", 5, "--start-state", "0.45,0.5", *FAST)
    assert "final qpos error" in result.stdout and "success below 0.05" in result.stdout


@pytest.mark.slow
def test_lewm_protocol_eval_by_state_match(tiny_dot, tmp_path):
    ok("lewm-eval", "--import", "tiny_gym_env", "--env", "TinyDot-v0", "--checkpoint", tiny_dot["model"],
       "--eval-data", tiny_dot["data"],
       "--suite", "lewm", "--episodes", 2, "--budget", 5, "--tolerance", 0.3, "--out", tmp_path / "eval", *FAST)
    (row,) = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert (row["task"], row["episodes"], row["error_unit"]) == ("TinyDot-v0", 2, "qpos")
    assert all(0 <= e["final_error"] <= 1 for e in row["per_episode"])


def test_record_episodes_from_a_users_env_object(tmp_path):
    import gymnasium as gym

    import tiny_gym_env  # noqa: F401  (registers the ids)
    from agent import record_episodes

    env = gym.make("TinyDot-v0", render_mode="rgb_array", speed=0.2)
    rng = np.random.default_rng(0)
    summary = record_episodes(env, lambda obs, info: rng.uniform(-2, 2, 2), episodes=2, out=tmp_path / "mine.h5",
                              steps=5, image_size=16, progress=False)
    assert summary["frames"] == 12
    with h5py.File(tmp_path / "mine.h5") as f:
        assert f["pixels"].shape == (12, 16, 16, 3) and json.loads(f.attrs["env_kwargs"]) == {"speed": 0.2}


BAD = [
    ("unknown-id", "lewm-collect", ["--env", "NoSuchEnv-v0"], ["unknown env 'NoSuchEnv-v0'", "--import"]),
    ("no-pixels", "lewm-collect", ["--env", "TinyNoPixels-v0"], ["no rgb_array rendering"]),
    ("discrete-actions", "lewm-collect", ["--env", "TinyDiscrete-v0"], ["Discrete action space", "Box"]),
    ("kwargs-not-json", "lewm-collect", ["--env", "TinyDot-v0", "--env-kwargs", "{speed: 1"], ["not JSON"]),
    ("kwargs-not-object", "lewm-collect", ["--env", "TinyDot-v0", "--env-kwargs", "[1]"], ["JSON object"]),
    ("kwargs-unknown", "lewm-collect", ["--env", "TinyDot-v0", "--env-kwargs", '{"sped": 1}'], ["sped"]),
    ("kwargs-for-ours", "lewm-collect", ["--env", "reacher", "--env-kwargs", '{"a": 1}'],
     ["applies to gymnasium ids"]),
    ("import-missing", "lewm-collect", ["--env", "TinyDot-v0", "--import", "no_such_module_xyz"], ["cannot import"]),
    ("action-scale-zero", "lewm-collect", ["--env", "TinyDot-v0", "--action-scale", "0"], ["--action-scale"]),
    ("angle-not-index", "lewm-collect", ["--env", "TinyDot-v0", "--angle-qpos", "a,b"], ["--angle-qpos"]),
    ("angle-outside-qpos", "lewm-collect", ["--env", "TinyDot-v0", "--angle-qpos", "5"], ["outside qpos"]),
    ("no-shipped-model", "lewm-plan", ["--env", "TinyDot-v0", "--goal", "{goal}"], ["has no shipped model"]),
    ("checkpoint-of-another-env", "lewm-plan", ["--env", "TinyDot-v0", "--goal", "{goal}", "--checkpoint",
                                                "{reacher}"], ["trained for task 'reacher', not 'TinyDot-v0'"]),
    ("tolerance-for-ours", "lewm-plan", ["--env", "reacher", "--goal", "{goal}", "--tolerance", "0.1",
                                         "--checkpoint", "{reacher}"], ["applies to gymnasium ids"]),
    ("free-suite-without-sampler", "lewm-eval", ["--env", "TinyDot-v0", "--checkpoint", "{model}", "--suite", "free",
                                                 "--episodes", "1", "--out", "{work}"], ["--suite lewm"]),
]


# The first case of each command runs the installed command; the others its main in this process (the same checks
# without an interpreter start-up each).
INSTALLED = {next(b[0] for b in BAD if b[1] == exe) for exe in {b[1] for b in BAD}}


@pytest.mark.slow
@pytest.mark.parametrize("case,exe,args,words", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_one_line(case, exe, args, words, tiny_dot, tiny_checkpoint, tmp_path, capsys):
    work = tmp_path / "work"
    work.mkdir()
    from PIL import Image

    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "plain.png")  # a goal image with no pose
    names = {"goal": str(tmp_path / "plain.png"), "work": str(work),
             "reacher": str(tiny_checkpoint), "model": str(tiny_dot["model"])}
    argv = [names.get(a[1:-1], a) for a in args]  # "{goal}" -> its path; JSON arguments stay as they are
    if "--import" not in argv:
        argv += ["--import", "tiny_gym_env"]
    if exe == "lewm-collect":
        argv += ["--episodes", "1", "--steps", "2", "--image-size", "16", "--workers",
                 "1", "--no-progress", "--out", str(work / "d.h5")]
    else:
        argv += FAST
    if case in INSTALLED:
        result = run_command(exe, *argv, cwd=work, extra_env=ENV)
    else:  # tests/ (where tiny_gym_env is) is on this process's path already
        result = run_in_process(exe, *argv, cwd=work, capsys=capsys)
    assert_user_error(result, exe, *words)
    assert not any(work.iterdir()), f"left behind: {sorted(p.name for p in work.iterdir())}"
