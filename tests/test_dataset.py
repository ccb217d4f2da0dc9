"""HDF5 layout, window slicing, normalisation, splits, and resumable collection."""

import h5py
import numpy as np
import pytest
import torch

from agent.collect import CollectConfig, CollectError, collect, collect_episode
from world_model.data.dataset import TrajectoryDataset, write_episodes


def _synthetic_episode(length, offset, action_dim=2):
    """Frames whose pixel value encodes the global frame number, so windows can be checked exactly."""
    frames = np.arange(offset, offset + length)
    pixels = np.broadcast_to((frames % 251).astype(np.uint8)[:, None, None, None], (length, 4, 4, 3)).copy()
    action = np.stack([frames, -frames], axis=1).astype(np.float32)[:, :action_dim]
    action[-1] = np.nan
    qpos = np.stack([frames, frames * 2], axis=1).astype(np.float32)
    return {"pixels": pixels, "action": action, "qpos": qpos}


@pytest.fixture
def synthetic_h5(tmp_path):
    path = tmp_path / "syn.h5"
    write_episodes(path, [_synthetic_episode(30, 0), _synthetic_episode(25, 30)], attrs={"env": "test"})
    return path


def test_layout_round_trip(synthetic_h5):
    with h5py.File(synthetic_h5) as f:
        assert f["pixels"].shape == (55, 4, 4, 3) and f["pixels"].dtype == np.uint8
        np.testing.assert_array_equal(f["ep_len"][:], [30, 25])
        np.testing.assert_array_equal(f["ep_offset"][:], [0, 30])
        assert f.attrs["env"] == "test"


def test_windows_stride_by_frameskip_and_block_actions(synthetic_h5):
    ds = TrajectoryDataset(synthetic_h5, num_steps=4, frameskip=5)
    assert len(ds) == (30 - 20 + 1) + (25 - 20 + 1)
    item = ds[3]  # episode 0, start frame 3
    np.testing.assert_array_equal(item["pixels"][:, 0, 0, 0].numpy(), [3, 8, 13, 18])
    np.testing.assert_array_equal(item["qpos"][:, 0].numpy(), [3, 8, 13, 18])
    raw = item["action"].numpy() * np.tile(ds.action_std, 5) + np.tile(ds.action_mean, 5)
    assert item["action"].shape == (4, 10)
    np.testing.assert_allclose(raw[1].reshape(5, 2)[:, 0], [8, 9, 10, 11, 12], atol=1e-4)
    first_of_ep1 = ds[11]
    assert first_of_ep1["pixels"][0, 0, 0, 0] == 30  # windows never cross episodes


def test_nan_boundary_action_becomes_zero(synthetic_h5):
    ds = TrajectoryDataset(synthetic_h5, num_steps=2, frameskip=5)
    last = ds[30 - 10]  # the window whose last block ends on the episode's final (NaN) row
    assert torch.isfinite(last["action"]).all()
    assert last["action"][-1, -2:].abs().sum() == 0


def test_normalisation_statistics(synthetic_h5):
    ds = TrajectoryDataset(synthetic_h5)
    with h5py.File(synthetic_h5) as f:
        actions = f["action"][:]
    finite = actions[np.isfinite(actions).all(1)]
    np.testing.assert_allclose(ds.action_mean, finite.mean(0), rtol=1e-5)
    np.testing.assert_allclose(ds.action_std, finite.std(0), rtol=1e-5)


def test_split_is_by_episode_and_shares_train_statistics(synthetic_h5):
    ds = TrajectoryDataset(synthetic_h5, num_steps=2, frameskip=2)
    train, val = ds.split(val_fraction=0.5, seed=0)
    assert set(train.episodes).isdisjoint(val.episodes) and len(train.episodes) + len(val.episodes) == 2
    np.testing.assert_array_equal(train.action_mean, val.action_mean)


def test_missing_file_and_wrong_layout(tmp_path):
    with pytest.raises(FileNotFoundError):
        TrajectoryDataset(tmp_path / "nope.h5")
    bad = tmp_path / "bad.h5"
    with h5py.File(bad, "w") as f:
        f["pixels"] = np.zeros((2, 4, 4, 3), np.uint8)
    with pytest.raises(ValueError, match="missing columns"):
        TrajectoryDataset(bad)


def test_collected_dataset_is_real(tiny_reacher_h5):
    ds = TrajectoryDataset(tiny_reacher_h5, num_steps=4, frameskip=5)
    ep = ds.episode(0)
    assert ep["pixels"].shape == (31, 32, 32, 3)
    assert np.isnan(ep["action"][-1]).all() and np.isfinite(ep["action"][:-1]).all()
    assert np.abs(np.diff(ep["qpos"], axis=0)).max() > 0.01  # the arm moves
    assert np.abs(ep["pixels"][1:].astype(int) - ep["pixels"][:-1]).max() > 0  # and the images show it
    # held random actions: consecutive actions repeat more often than iid uniform would allow
    same = np.all(ep["action"][1:-1] == ep["action"][:-2], axis=1).mean()
    assert same > 0.3


def test_episodes_are_deterministic():
    cfg = CollectConfig(env="reacher", episodes=2, steps=5, image_size=16, seed=4)
    a, b = collect_episode(cfg, 1), collect_episode(cfg, 1)
    np.testing.assert_array_equal(a["pixels"], b["pixels"])
    assert not np.array_equal(a["qpos"], collect_episode(cfg, 0)["qpos"])


def test_resume_after_interruption(tmp_path, monkeypatch):
    import agent.collect as collect_mod

    cfg = CollectConfig(env="reacher", episodes=3, steps=5, image_size=16, seed=2)
    out = tmp_path / "r.h5"
    real = collect_mod._collect_part
    calls = []

    def flaky(job):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(job[2])
        return real(job)

    monkeypatch.setattr(collect_mod, "_collect_part", flaky)
    with pytest.raises(KeyboardInterrupt):
        collect(cfg, out, workers=1, progress=False)
    assert not out.exists()  # never a half-written file under the final name
    parts = sorted(p.name for p in (tmp_path / "r.h5.parts").glob("ep_*.npz"))
    assert parts == ["ep_000000.npz", "ep_000001.npz"]

    monkeypatch.setattr(collect_mod, "_collect_part", lambda job: calls.append(job[2]) or real(job))
    collect(cfg, out, workers=1, progress=False)
    assert calls[-1] == 2 and calls.count(0) == 1  # only the missing episode was collected again
    assert not (tmp_path / "r.h5.parts").exists()
    uninterrupted = tmp_path / "u.h5"
    collect(cfg, uninterrupted, workers=1, progress=False)
    with h5py.File(out) as f, h5py.File(uninterrupted) as g:
        np.testing.assert_array_equal(f["pixels"][:], g["pixels"][:])


def test_resume_with_other_settings_is_refused(tmp_path):
    cfg = CollectConfig(env="reacher", episodes=1, steps=3, image_size=16)
    parts = tmp_path / "r.h5.parts"
    parts.mkdir()
    (parts / "manifest.json").write_text('{"env": "reacher", "episodes": 9}')
    with pytest.raises(CollectError, match="other settings"):
        collect(cfg, tmp_path / "r.h5", workers=1, progress=False)


def test_output_folder_errors(tmp_path):
    cfg = CollectConfig(env="reacher", episodes=1, steps=3, image_size=16)
    with pytest.raises(CollectError, match="does not exist"):
        collect(cfg, tmp_path / "missing" / "r.h5", workers=1, progress=False)


def test_read_only_output_folder_in_process(tmp_path, monkeypatch):
    """Root can write anywhere, so the permission check is exercised by making os.access say no."""
    import agent.collect as collect_mod

    monkeypatch.setattr(collect_mod.os, "access", lambda path, mode: False)
    cfg = CollectConfig(env="reacher", episodes=1, steps=3, image_size=16)
    with pytest.raises(CollectError, match="not writable"):
        collect(cfg, tmp_path / "r.h5", workers=1, progress=False)
    assert list(tmp_path.iterdir()) == []
