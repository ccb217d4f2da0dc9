"""Exact resume after any stop (issue 42): the installed ``lewm-train`` stopped by Ctrl-C (SIGINT), SIGTERM or
SIGKILL in the middle of a run, then resumed, ends with the uninterrupted run's weights and BatchNorm buffers, bit
for bit; and what a resumed run may and may not change."""

import json
import signal
import subprocess
import time

import pytest
import torch
import yaml
from cli_faults import assert_user_error, run_command, run_in_process
from conftest import installed_command
from safetensors.torch import load_file

from world_model.training.train import main

TINY = dict(preset="cpu", image_size=32, cnn_channels=[8, 16, 32], embed_dim=32, proj_hidden=64, pred_depth=1,
            pred_heads=2, pred_dim_head=16, pred_mlp_dim=64, sigreg_projections=64, batch_size=8, steps=60,
            eval_every=1000, eval_batches=1, log_every=1, checkpoint_every=7, precision="fp32", pred_dropout=0.1)
THREADS = ["--threads", "2", "--no-progress"]  # the same thread count in every process: the same sums


@pytest.fixture(scope="module")
def setup(tmp_path_factory, tiny_reacher_h5):
    """The config, and the uninterrupted run's final weights."""
    root = tmp_path_factory.mktemp("signals")
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    assert main(["--config", str(config), "--data", str(tiny_reacher_h5), "--out", str(root / "whole"), *THREADS]) == 0
    return {"config": config, "data": tiny_reacher_h5, "whole": load_file(str(root / "whole" / "model" /
                                                                             "model.safetensors"))}


def _steps_logged(run) -> int:
    """The last training step in the run's log (0 before the first)."""
    log = run / "log.jsonl"
    if not log.exists():
        return 0
    steps = [json.loads(ln)["step"] for ln in log.read_text().splitlines()
             if ln.strip().endswith("}") and '"kind": "train"' in ln]
    return max(steps, default=0)


@pytest.mark.slow
@pytest.mark.parametrize("sig,status", [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGKILL, -9)],
                         ids=["SIGINT", "SIGTERM", "SIGKILL"])
def test_resume_after_a_signal_is_bit_identical(sig, status, setup, tmp_path):
    run = tmp_path / "run"
    proc = subprocess.Popen([installed_command("lewm-train"), "--config", str(setup["config"]), "--data",
                             str(setup["data"]), "--out", str(run), *THREADS],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while _steps_logged(run) < 10 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == status, stderr
    stopped_at = _steps_logged(run)
    assert 10 <= stopped_at < TINY["steps"], stopped_at  # stopped mid-run
    assert "Traceback" not in stderr
    if sig != signal.SIGKILL:
        assert f"saved step {stopped_at}" in stderr  # the last completed step, nothing of the next
        saved = torch.load(run / "train_state.pt", weights_only=True)
        assert saved["step"] == stopped_at
        tracked = [v for k, v in saved["model"].items() if k.endswith("num_batches_tracked")]
        assert tracked and all(int(v) == stopped_at for v in tracked)
    assert main(["--resume", "--config", str(setup["config"]), "--data", str(setup["data"]), "--out", str(run),
                 *THREADS]) == 0
    resumed = load_file(str(run / "model" / "model.safetensors"))
    assert resumed.keys() == setup["whole"].keys()
    assert all(torch.equal(resumed[k], setup["whole"][k]) for k in resumed)


@pytest.fixture(scope="module")
def short_run(tmp_path_factory, setup):
    """A finished 4-step run to resume with other options."""
    run = tmp_path_factory.mktemp("short") / "run"
    assert main(["--config", str(setup["config"]), "--data", str(setup["data"]), "--out", str(run), "--steps", "4",
                 "--set", "checkpoint_every=2", *THREADS]) == 0
    return run


@pytest.mark.slow
@pytest.mark.parametrize("options,words", [
    (["--set", "lr=1"], ["--resume: lr cannot change", "0.0005", "--init"]),
    (["--seed", "5"], ["--resume: seed cannot change"]),
    (["--set", "embed_dim=64"], ["embed_dim cannot change"]),
    (["--set", "steps=.inf"], ["steps must be an integer, got inf"]),
    (["--set", "lr=.nan"], ["lr must be a finite number"]),
], ids=["lr", "seed", "architecture", "steps-inf", "lr-nan"])
def test_resume_refuses_what_cannot_change(options, words, setup, short_run):
    # lewm-train's main in this process (no interpreter start-up); the config-file case below runs the command
    result = run_in_process("lewm-train", "--config", setup["config"], "--data", setup["data"], "--out", short_run,
                         "--resume", *options, "--no-progress")
    assert_user_error(result, "lewm-train", *words)


@pytest.mark.slow
def test_resume_refuses_a_config_file_that_changes_the_run(setup, short_run, tmp_path):
    edited = tmp_path / "edited.yaml"
    edited.write_text(yaml.safe_dump({**TINY, "weight_decay": 0.5}))
    result = run_command("lewm-train", "--config", edited, "--data", setup["data"], "--out", short_run, "--resume",
                         "--no-progress")
    assert_user_error(result, "lewm-train", "edited.yaml sets weight_decay 0.5", "0.001")


@pytest.mark.slow
def test_resume_applies_and_reports_what_may_change(setup, short_run, tmp_path, caplog):
    import shutil

    run = shutil.copytree(short_run, tmp_path / "run")
    with caplog.at_level("INFO", logger="world_model.training.train"):
        assert main(["--config", str(setup["config"]), "--data", str(setup["data"]), "--out", str(run), "--resume",
                     "--steps", "6", "--set", "log_every=2", *THREADS]) == 0
    assert "--resume: steps 4 -> 6 (applied)" in caplog.text and "log_every 1 -> 2 (applied)" in caplog.text
    assert torch.load(run / "train_state.pt", weights_only=True)["step"] == 6
