"""Datasets carry a checksum per episode and hold only numbers they can: damaged or foreign values are refused with
the episode (and step) named, by every reader, by ``lewm-check-data`` and by ``lewm-train-proposal`` (issue 42)."""

import shutil

import h5py
import numpy as np
import pytest
from cli_faults import assert_user_error, run_command, run_in_process

from common.cli_errors import UserInputError
from world_model.data.check_data import check_file
from world_model.data.data_integrity import EPISODE_SHA
from world_model.data.dataset import TrajectoryDataset, write_episodes

ATTRS = {"env": "reacher", "action_low": np.array([-1.0, -1.0]), "action_high": np.array([1.0, 1.0])}


def _episodes(n: int = 4, frames: int = 31, seed: int = 0) -> list[dict]:
    """Synthetic episodes in the collector's layout (32 px, 2-D actions in [-1, 1], NaN last action)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        action = rng.uniform(-1, 1, (frames, 2)).astype(np.float32)
        action[-1] = np.nan
        out.append({"pixels": rng.integers(0, 255, (frames, 32, 32, 3), dtype=np.uint8), "action": action,
                    "qpos": rng.normal(size=(frames, 2)).astype(np.float32)})
    return out


def _write(path, change=None, attrs=ATTRS):
    """Writes the synthetic episodes after ``change(episodes)`` (the checksums then match the changed data)."""
    episodes = _episodes()
    if change is not None:
        change(episodes)
    write_episodes(path, episodes, attrs=attrs)
    return path


def _set(column, episode, step, value):
    def change(episodes):
        episodes[episode][column][step] = value
    return change


def _all_nan_actions(episodes):
    for ep in episodes:
        ep["action"][:] = np.nan


def _damage_pixel_chunk(path) -> None:
    """Overwrites bytes on disk inside the pixel data of episode 2 (rows 62..92), past h5py: a damaged chunk."""
    with h5py.File(path, "r") as f:
        dset = f["pixels"]
        row_bytes = int(np.prod(dset.shape[1:]))
        info = dset.id.get_chunk_info(0)  # one chunk holds the 124 rows
        at = info.byte_offset + 70 * row_bytes + 100
    raw = bytearray(path.read_bytes())
    raw[at:at + 64] = bytes(255 - b for b in raw[at:at + 64])
    path.write_bytes(bytes(raw))


# case -> (how the file is made or damaged, words the error must contain)
CASES = {
    "pixel-chunk-damaged": (lambda p: (_write(p), _damage_pixel_chunk(p)), ["episode 2", "checksum"]),
    "nan-action-inside": (lambda p: _write(p, _set("action", 1, 3, np.nan)), ["episode 1, step 3", "NaN"]),
    "inf-action": (lambda p: _write(p, _set("action", 2, 0, np.inf)), ["episode 2, step 0", "infinite"]),
    "action-1e30": (lambda p: _write(p, _set("action", 3, 7, 1e30)), ["episode 3, step 7", "outside"]),
    "action-outside-box": (lambda p: _write(p, _set("action", 0, 4, 3.5)), ["episode 0, step 4", "action box"]),
    "all-nan-actions": (lambda p: _write(p, _all_nan_actions), ["episode 0, step 0", "NaN"]),
    "nan-state": (lambda p: _write(p, _set("qpos", 1, 5, np.nan)), ["episode 1, step 5", "qpos"]),
    "checksums-of-another-file": (lambda p: (_write(p), _swap_checksums(p)), ["episode 0", "checksum"]),
}


def _swap_checksums(path) -> None:
    with h5py.File(path, "r+") as f:
        f[EPISODE_SHA][...] = f[EPISODE_SHA][:][::-1]


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_every_reader_refuses_naming_the_episode(case, tmp_path):
    make, words = CASES[case]
    path = tmp_path / "d.h5"
    make(path)
    for read in (lambda: TrajectoryDataset(path, num_steps=2, frameskip=5), lambda: check_file(path)):
        with pytest.raises(UserInputError) as err:
            read()
        for word in words:
            assert word.lower() in str(err.value).lower(), (word, str(err.value))


def test_written_files_carry_and_pass_their_checksums(tmp_path):
    path = _write(tmp_path / "d.h5")
    with h5py.File(path, "r") as f:
        assert f[EPISODE_SHA].shape == (4,)
    assert check_file(path) == {"episodes": 4, "frames": 124, "verified": True, "env": "reacher"}
    assert len(TrajectoryDataset(path, num_steps=2, frameskip=5)) > 0


def test_the_collector_writes_checksums(tiny_reacher_h5):
    assert check_file(tiny_reacher_h5)["verified"]


def test_a_file_without_checksums_loads_with_a_warning(tmp_path, caplog):
    path = _write(tmp_path / "d.h5")
    with h5py.File(path, "r+") as f:  # as stable-worldmodel and le-wm write them
        del f[EPISODE_SHA]
    with caplog.at_level("WARNING", logger="world_model.data"):
        assert len(TrajectoryDataset(path, num_steps=2, frameskip=5)) > 0
    assert "cannot be verified" in caplog.text
    assert not check_file(path)["verified"]


def test_a_huge_action_is_refused_without_an_action_box(tmp_path):
    path = _write(tmp_path / "d.h5", _set("action", 0, 2, 1e30), attrs={"env": "reacher"})  # no box recorded
    with pytest.raises(UserInputError, match="episode 0, step 2: .* beyond 1e"):
        TrajectoryDataset(path, num_steps=2, frameskip=5)


def test_statistics_are_computed_in_float64_and_must_fit_float32():
    from world_model.data.dataset import _action_stats

    action = np.array([[3e38, 0.0], [-3e38, 0.0]], np.float32)  # float32 sums overflow; float64 std 3e38 fits
    mean, std = _action_stats(action, np.arange(2))
    assert np.isfinite(mean).all() and np.isfinite(std).all()
    with pytest.raises(UserInputError, match="every action is NaN"):
        _action_stats(np.full((2, 2), np.nan, np.float32), np.arange(2))


@pytest.mark.slow
def test_lewm_check_data(tmp_path):
    good = _write(tmp_path / "good.h5")
    result = run_command("lewm-check-data", good, "--no-progress")
    assert result.returncode == 0, result.stderr
    assert "4 episodes, 124 frames, task reacher; every episode matches its checksum" in result.stdout
    bad = tmp_path / "bad.h5"
    CASES["pixel-chunk-damaged"][0](bad)
    assert_user_error(run_command("lewm-check-data", good, bad, "--no-progress"), "lewm-check-data", "bad.h5",
                      "episode 2")


@pytest.fixture(scope="module")
def bad_data(tmp_path_factory, tiny_tworoom_h5):
    root = tmp_path_factory.mktemp("proposal_data")
    return {"all_nan": _write(root / "all_nan.h5", _all_nan_actions), "tworoom": tiny_tworoom_h5}


@pytest.mark.slow
@pytest.mark.parametrize("data,extra,words", [
    ("all_nan", [], ["episode 0, step 0", "NaN"]),
    ("tworoom", [], ["collected on task 'tworoom'", "'reacher'"]),
    ("reacher", ["--horizon", "1000"], ["--horizon 1000", "at most 64"]),
    ("reacher", ["--horizon", "10"], ["--horizon 10", "6 action blocks"]),
], ids=["all-nan-actions", "another-task", "horizon-1000", "horizon-beyond-data"])
def test_lewm_train_proposal_refuses_bad_data(data, extra, words, bad_data, tiny_checkpoint, tiny_reacher_h5,
                                             tmp_path):
    folder = tmp_path / "ck"
    shutil.copytree(tiny_checkpoint, folder)
    path = tiny_reacher_h5 if data == "reacher" else bad_data[data]
    # lewm-train-proposal's main in this process (test_proposal runs the installed command)
    result = run_in_process("lewm-train-proposal", "--checkpoint", folder, "--data", path, "--steps", "2",
                            "--no-progress", *extra)
    assert_user_error(result, "lewm-train-proposal", *words)
    assert not (folder / "proposal.safetensors").exists()


@pytest.mark.slow
def test_collection_parts_carry_their_task_index_and_checksum(tmp_path, capsys):
    """A part merged into a dataset must be this collection's episode: another task's, another index's or a
    changed part is refused by merge_parts and collected again by lewm-collect."""
    from agent.collect import CollectConfig, PartMismatch, _collect_part, _load_part, _part_path, read_part

    def parts_of(env):
        folder = tmp_path / env
        folder.mkdir()
        cfg = CollectConfig(env=env, episodes=2, steps=4, image_size=16)
        for i in range(2):
            _collect_part((cfg, str(folder), i))
        return cfg, folder

    reacher, parts = parts_of("reacher")
    _, other = parts_of("pointmass")
    good = read_part(parts, 1, "reacher")
    assert set(good) == {"pixels", "action", "qpos", "qvel"}  # the identity is not a column
    shutil.copy(_part_path(other, 1), _part_path(parts, 1))
    with pytest.raises(PartMismatch, match="task 'pointmass', not 'reacher'"):
        read_part(parts, 1, "reacher")
    shutil.copy(_part_path(parts, 0), _part_path(parts, 1))
    with pytest.raises(PartMismatch, match="episode 0, not 1"):
        read_part(parts, 1, "reacher")
    with np.load(_part_path(parts, 0)) as data:
        changed = {k: data[k] for k in data.files}
    changed["action"][1] += 0.5
    np.savez(_part_path(parts, 0), **changed)
    with pytest.raises(PartMismatch, match="do not match the checksum"):
        read_part(parts, 0, "reacher")
    again = _load_part(reacher, parts, 1)  # lewm-collect collects the foreign part again
    assert all(np.array_equal(again[k], good[k], equal_nan=True) for k in good)
    assert "is not this collection's episode 1 (it is episode 0, not 1)" in capsys.readouterr().out
