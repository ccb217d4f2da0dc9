"""Nothing corrupt used silently, nothing partial left: image value ranges, goal metadata, damaged collection
parts, interrupted writes, file modes and the plan-memory check."""

import os
import stat

import h5py
import numpy as np
import pytest

from agent.collect import CollectConfig, collect
from agent.images import to_rgb_frames

RAMP = np.linspace(0, 255, 16 * 16 * 3).reshape(16, 16, 3)  # every grey level, the reference in uint8
RAMP_U8 = np.round(RAMP).astype(np.uint8)


@pytest.mark.parametrize("image", [
    RAMP_U8,
    RAMP_U8.astype(np.float32),  # float in 0-255 (today read as 0-1 and turned white)
    RAMP_U8.astype(np.float64) / 255.0,  # float in 0-1
    RAMP_U8.astype(np.int64),
    (RAMP_U8.astype(np.uint16) * 257),  # 16-bit
], ids=["uint8", "float-0-255", "float-0-1", "int64", "uint16"])
def test_pixel_ranges_are_read_by_dtype_and_range(image):
    np.testing.assert_allclose(to_rgb_frames(image, 16).astype(int), RAMP_U8.astype(int), atol=1)


@pytest.mark.parametrize("bad,message", [
    (np.full((8, 8, 3), np.nan), "NaN or infinite"),
    (np.full((8, 8, 3), np.inf, np.float32), "NaN or infinite"),
    (np.full((8, 8, 3), 300.0), r"\[0, 1\] or \[0, 255\]"),
    (np.full((8, 8, 3), -0.5), r"\[0, 1\] or \[0, 255\]"),
    (np.full((8, 8, 3), 1000, np.int32), r"\[0, 255\]"),
    (np.full((8, 8, 3), -1, np.int16), r"\[0, 255\]"),
], ids=["nan", "inf", "float-above-255", "negative-float", "int-above-255", "negative-int"])
def test_out_of_range_pixels_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        to_rgb_frames(bad, 8)


def test_16_bit_grayscale_png_keeps_its_greys(tmp_path):
    from PIL import Image

    grey = (np.arange(256, dtype=np.uint16).reshape(16, 16) * 257)
    Image.fromarray(grey).save(tmp_path / "g16.png")
    frames = to_rgb_frames(tmp_path / "g16.png", 16)
    np.testing.assert_array_equal(frames[..., 0], np.arange(256).reshape(16, 16))


def test_goal_png_with_foreign_text_has_no_pose(tmp_path):
    from PIL import Image, PngImagePlugin

    from agent.goal_files import POSE_KEY, read_goal_pose

    meta = PngImagePlugin.PngInfo()
    meta.add_text(POSE_KEY, "{not json")
    Image.fromarray(RAMP_U8).save(tmp_path / "g.png", pnginfo=meta)
    assert read_goal_pose(tmp_path / "g.png") is None


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["empty", "truncated", "flipped"])
def test_a_damaged_collection_part_is_collected_again(tmp_path, damage, capsys):
    import agent.collect as collect_mod

    cfg = CollectConfig(env="reacher", episodes=2, steps=4, image_size=16, seed=5)
    clean = tmp_path / "clean.h5"
    collect(cfg, clean, workers=1, progress=False)
    out = tmp_path / "resumed.h5"
    parts = tmp_path / "resumed.h5.parts"
    collect_mod._prepare_parts(cfg, parts)
    for i in range(cfg.episodes):
        collect_mod._collect_part((cfg, str(parts), i))
    part = parts / "ep_000001.npz"
    data = part.read_bytes()
    if damage == "empty":
        part.write_bytes(b"")
    elif damage == "truncated":
        part.write_bytes(data[: len(data) // 2])
    else:  # the zip directory is intact; the data's checksum is not
        middle = len(data) // 3
        part.write_bytes(data[:middle] + bytes(b ^ 0xFF for b in data[middle:middle + 64]) + data[middle + 64:])
    collect(cfg, out, workers=1, progress=False)
    assert "ep_000001.npz is damaged; collecting that episode again" in capsys.readouterr().out
    with h5py.File(out) as f, h5py.File(clean) as g:
        for column in ("pixels", "action", "qpos"):
            np.testing.assert_array_equal(f[column][:], g[column][:])


def test_interrupted_video_leaves_no_file(tmp_path, monkeypatch):
    import imageio.v2 as imageio

    from agent.cli_plan import _write_video

    def partial_then_interrupted(path, frames, **kwargs):
        with open(path, "wb") as f:
            f.write(b"\0" * 100)
        raise KeyboardInterrupt

    monkeypatch.setattr(imageio, "mimsave", partial_then_interrupted)
    frames = [np.zeros((16, 16, 3), np.uint8)] * 3
    with pytest.raises(KeyboardInterrupt):
        _write_video(tmp_path / "ep.mp4", frames, frames[0])
    assert list(tmp_path.iterdir()) == []


def test_written_files_follow_the_umask(tmp_path):
    from agent.goal_files import save_goal_png

    old = os.umask(0o022)
    try:
        save_goal_png(tmp_path / "g.png", RAMP_U8, "reacher", np.zeros(2))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "g.png").stat().st_mode) == 0o644


def test_plan_memory_check_names_a_sample_count_that_fits(tiny_checkpoint, monkeypatch):
    import agent.plan_memory as plan_memory
    from agent.agent import make_agent
    from common.cli_errors import UserInputError

    agent = make_agent(str(tiny_checkpoint), device="cpu", num_samples=1000, n_iters=1)
    monkeypatch.setattr(plan_memory, "available_bytes", lambda: 10 * 2 ** 20)
    plan_memory.check_plan_memory(agent, batch=1)  # about 8 MB: fits
    with pytest.raises(UserInputError, match=r"--samples 1000 for 8 envs .* use --samples \d+ or fewer"):
        plan_memory.check_plan_memory(agent, batch=8)


@pytest.mark.parametrize("where", [0.1, 0.3, 0.5, 0.7, 0.99])
def test_one_flipped_byte_in_a_shipped_checkpoint_is_refused(tmp_path, where):
    import shutil

    from agent.pretrained import shipped_checkpoints
    from world_model import LeWM
    from common.cli_errors import UserInputError

    folder = shutil.copytree(shipped_checkpoints()["reacher"], tmp_path / "reacher")
    weights = folder / "model.safetensors"
    raw = bytearray(weights.read_bytes())
    raw[int(where * len(raw))] ^= 0x01
    weights.write_bytes(bytes(raw))
    with pytest.raises(UserInputError, match="(checksum|not a readable safetensors file)"):
        LeWM.load(folder)
