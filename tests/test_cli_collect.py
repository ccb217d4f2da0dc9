"""``lewm-collect`` run as installed, the way a user runs it."""

import os
import subprocess

import h5py
import pytest
from conftest import installed_command

pytestmark = pytest.mark.slow  # commands run end to end: left out by make test-fast

EXE = installed_command("lewm-collect")


def run(*args, cwd=None):
    return subprocess.run([EXE, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_collect_with_two_workers(tmp_path):
    out = tmp_path / "r.h5"
    result = run("--env", "reacher", "--episodes", "3", "--steps", "6", "--image-size", "16",
                 "--workers", "2", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "3 episodes" in result.stdout
    with h5py.File(out) as f:
        assert f["pixels"].shape == (21, 16, 16, 3)
        assert list(f["ep_len"][:]) == [7, 7, 7]


def test_unknown_env_is_one_line_exit_2(tmp_path):
    result = run("--env", "cartpole", "--episodes", "1", "--out", str(tmp_path / "x.h5"))
    assert result.returncode == 2
    assert result.stderr.strip() == ("lewm-collect: error: unknown env 'cartpole'; known tasks: cube, pointmass, "
                                     "pusht, reacher, tworoom, or any gymnasium id (for an id your own "
                                     "package registers, add --import YOUR_MODULE)")
    assert "Traceback" not in result.stderr


def test_missing_output_folder(tmp_path):
    result = run("--env", "reacher", "--episodes", "1", "--out", str(tmp_path / "no" / "x.h5"))
    assert result.returncode == 2 and "does not exist" in result.stderr
    assert not (tmp_path / "no").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to read-only folders")
def test_read_only_output_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    result = run("--env", "reacher", "--episodes", "1", "--out", str(ro / "x.h5"))
    assert result.returncode == 2 and "not writable" in result.stderr
    assert list(ro.iterdir()) == []


def test_door_seeking_policy_for_tworoom(tmp_path):
    out = tmp_path / "t.h5"
    result = run("--env", "tworoom", "--policy", "door_seeking", "--door-prob", "0.8", "--episodes", "2",
                 "--steps", "5", "--image-size", "16", "--workers", "1", "--no-progress", "--out", str(out))
    assert result.returncode == 0, result.stderr
    with h5py.File(out) as f:
        assert f.attrs["policy"] == "door_seeking" and f.attrs["door_prob"] == 0.8
        assert list(f.attrs["angle_qpos"]) == [] and f["qpos"].shape == (12, 2)


@pytest.mark.parametrize("args,message", [
    (["--env", "reacher", "--policy", "bogus"],
     "unknown policy 'bogus'; known policies: door_seeking, held_random, oracle, oracle_markov, oracle_wide, push"),
    (["--env", "reacher", "--policy", "push"], "policy 'push' works only for pusht, not 'reacher'"),
    (["--env", "reacher", "--policy", "door_seeking"], "policy 'door_seeking' works only for tworoom, not 'reacher'"),
    (["--env", "tworoom", "--policy", "door_seeking", "--door-prob", "1.5"], "--door-prob must be in [0, 1]"),
])
def test_bad_policy_is_one_line_exit_2(tmp_path, args, message):
    result = run(*args, "--episodes", "1", "--out", str(tmp_path / "x.h5"))
    assert result.returncode == 2
    assert result.stderr.startswith(f"lewm-collect: error: {message}")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr and not list(tmp_path.iterdir())
