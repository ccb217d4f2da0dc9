"""lewm-merge splits a finished collection into training and held-out files, episode for episode."""

import h5py
import numpy as np
import pytest

from agent.cli_merge import main
from world_model.data.dataset import write_episodes


def episode(index: int, length: int) -> dict:
    """Frames whose pixels and qpos carry the episode's index, so the split can be checked per episode."""
    return {"pixels": np.full((length, 4, 4, 3), index, np.uint8),
            "action": np.full((length, 2), index, np.float32),
            "qpos": np.full((length, 3), index, np.float32)}


@pytest.fixture
def collection(tmp_path):
    path = tmp_path / "all.h5"
    write_episodes(path, [episode(i, 5 + i) for i in range(5)], attrs={"env": "cube", "episodes": 5, "seed": 3})
    return path


def test_splits_a_finished_file_keeping_order_and_attributes(collection, tmp_path):
    train, held = tmp_path / "train.h5", tmp_path / "held.h5"
    assert main([str(collection), "--heldout", "2", "--train", str(train), "--heldout-out", str(held)]) == 0
    with h5py.File(train) as f:
        np.testing.assert_array_equal(f["ep_len"][:], [5, 6, 7])
        np.testing.assert_array_equal(np.unique(f["qpos"][:]), [0, 1, 2])
        assert f.attrs["episodes"] == 3 and f.attrs["env"] == "cube" and f.attrs["seed"] == 3
    with h5py.File(held) as f:
        np.testing.assert_array_equal(f["ep_len"][:], [8, 9])
        np.testing.assert_array_equal(f["pixels"][f["ep_offset"][1]], np.full((4, 4, 3), 4))
        assert f.attrs["episodes"] == 2 and f.attrs["first_episode"] == 3


@pytest.mark.parametrize("args, message", [
    (["--heldout", "5"], "leaves no training episodes"),
    (["--episodes", "9"], "holds 5 episodes"),
    (["--heldout", "1"], "needs --heldout-out"),
    (["--source-missing"], "no such collection"),
])
def test_rejects_impossible_splits_in_one_line(collection, tmp_path, args, message, capsys):
    extra = [] if "needs" in message or "such" in message else ["--heldout-out", str(tmp_path / "h.h5")]
    source = str(tmp_path / "none.h5") if args == ["--source-missing"] else str(collection)
    args = [] if args == ["--source-missing"] else args
    assert main([source, "--train", str(tmp_path / "t.h5"), "--no-progress", *args, *extra]) == 2
    error = capsys.readouterr().err
    assert error.startswith("lewm-merge: error: ") and message in error and error.count("\n") == 1, error
    assert not (tmp_path / "t.h5").exists()
