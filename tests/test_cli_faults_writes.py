"""Writes through the installed commands: a planted link is never followed, and a write that runs out of space ends
in one line, exit status 2, with no output and no temporary file left (only what a rerun needs: collect's parts).

Out of space is real here: each row runs its command under a file-size limit (RLIMIT_FSIZE, SIGXFSZ ignored), so
the kernel fails the writes of h5py, torch.save, ffmpeg (a child process) and Pillow alike (EFBIG), as a full disk
fails them (ENOSPC). The ENOSPC errno itself is simulated in-process (monkeypatch) in the last tests.
"""

import errno
import resource
import signal
import subprocess

import numpy as np
import pytest
import yaml
from cli_faults import assert_user_error, run_command
from conftest import installed_command

FAST = ["--samples", "8", "--iters", "1", "--horizon", "2", "--no-progress"]
TINY = dict(preset="cpu", image_size=32, cnn_channels=[8, 16, 32], embed_dim=32, proj_hidden=64, pred_depth=1,
            pred_heads=2, pred_dim_head=16, pred_mlp_dim=64, sigreg_projections=64, batch_size=8, steps=1,
            eval_every=1, eval_batches=1, log_every=1, checkpoint_every=1, precision="fp32")
COLLECT = ["--env", "reacher", "--episodes", "3", "--steps", "10", "--image-size", "16", "--workers", "1",
           "--no-progress"]


def run_limited(exe: str, *args, limit: int, cwd) -> subprocess.CompletedProcess:
    """An installed command whose files may not grow past ``limit`` bytes (its child processes too)."""
    import os

    def _limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    env = {**os.environ, "LEWM_DEBUG": "", "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([installed_command(exe), *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          timeout=300, env=env, preexec_fn=_limit)


# Each row: id, command, arguments ({work}: the case's folder, {goal}, {checkpoint}, {data}, {config}), the size
# limit in bytes, and the names that may stay in {work} (collect keeps its finished parts for the rerun).
OUT_OF_SPACE = [
    ("collect-final-merge", "lewm-collect", [*COLLECT, "--out", "{work}/d.h5"], 12000, {"d.h5.parts"}),
    ("plan-video-mp4", "lewm-plan", ["--goal", "{goal}", "--checkpoint", "{checkpoint}", "--steps", "10",
                                     "--video", "{work}/v.mp4", *FAST], 3000, set()),
    ("plan-video-gif", "lewm-plan", ["--goal", "{goal}", "--checkpoint", "{checkpoint}", "--steps", "10",
                                     "--video", "{work}/v.gif", *FAST], 3000, set()),
    ("make-goal-png", "lewm-plan", ["--make-goal", "{work}/g.png", "--checkpoint", "{checkpoint}"], 500, set()),
    ("train-state", "lewm-train", ["--config", "{config}", "--data", "{data}", "--out", "{work}/run",
                                   "--no-progress"], 20000, {"run"}),
    ("eval-results", "lewm-eval", ["--checkpoint", "{checkpoint}", "--eval-data", "{data}", "--suite", "lewm",
                                   "--episodes", "1", "--budget", "2", "--out", "{work}/eval", *FAST], 3000, {"eval"}),
]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, tiny_checkpoint, tiny_reacher_h5):
    from agent.goal_files import save_goal_png

    root = tmp_path_factory.mktemp("writes")
    picture = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    save_goal_png(root / "goal.png", picture, "reacher", np.array([0.5, -0.5]))
    (root / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    return {"goal": root / "goal.png", "checkpoint": tiny_checkpoint, "data": tiny_reacher_h5,
            "config": root / "tiny.yaml"}


@pytest.mark.slow
@pytest.mark.parametrize("exe,args,limit,kept", [c[1:] for c in OUT_OF_SPACE], ids=[c[0] for c in OUT_OF_SPACE])
def test_out_of_space_is_one_line_and_leaves_nothing(exe, args, limit, kept, inputs, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    argv = [a.format(work=work, **inputs) for a in args]
    result = run_limited(exe, *argv, limit=limit, cwd=work)
    assert_user_error(result, exe, "out of space")
    assert "Exception ignored" not in result.stderr, result.stderr
    left = {p.name for p in work.iterdir()}
    assert left <= kept, f"left behind: {sorted(left - kept)}"
    hidden = [p for p in work.rglob(".*") if ".tmp" in p.name]
    assert not hidden, f"temporary files left: {hidden}"


@pytest.mark.slow
def test_collect_rerun_merges_the_kept_parts(tmp_path):
    out = tmp_path / "d.h5"
    assert run_limited("lewm-collect", *COLLECT, "--out", out, limit=12000, cwd=tmp_path).returncode == 2
    result = run_command("lewm-collect", *COLLECT, "--out", out, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.h5"]


@pytest.mark.slow
def test_collect_never_follows_a_planted_temporary_link(tmp_path):
    """The issue's case: ``X.h5.tmp -> victim`` was overwritten by ``h5py.File(tmp, "w")``."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "d.h5.tmp").symlink_to(victim)
    result = run_command("lewm-collect", *COLLECT, "--out", tmp_path / "d.h5", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert victim.read_text() == "precious"
    import h5py

    with h5py.File(tmp_path / "d.h5") as f:
        assert len(f["ep_len"]) == 3


@pytest.mark.slow
def test_collect_refuses_a_parts_folder_that_is_a_link(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    (work / "d.h5.parts").symlink_to(elsewhere)
    result = run_command("lewm-collect", *COLLECT, "--out", work / "d.h5", cwd=work)
    assert_user_error(result, "lewm-collect", "symbolic link")
    assert not any(elsewhere.iterdir())


def test_simulated_enospc_through_make_goal(tmp_path, monkeypatch, capsys):
    """ENOSPC itself (monkeypatched into Pillow's writer) through ``lewm-plan --make-goal``'s entry point."""
    from PIL import Image

    from agent.cli_plan import main

    def full(self, fp, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", full)
    assert main(["--make-goal", str(tmp_path / "g.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lewm-plan: error: cannot write") and "out of space" in err[0]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_stale_temporary_of_a_killed_writer_is_removed_by_the_next_run(tmp_path, inputs):
    """SIGKILL during a write leaves its hidden temporary file; the next write of that file removes it."""
    dead = subprocess.Popen(["true"])
    dead.wait()  # its id now names no process
    stale = tmp_path / f".g.png.{dead.pid}-k1ll3d.tmp.png"
    stale.write_bytes(b"")
    result = run_command("lewm-plan", "--make-goal", tmp_path / "g.png", "--checkpoint", inputs["checkpoint"],
                         cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.png"]
