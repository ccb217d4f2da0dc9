"""A camera check before a collection: a few frames of one episode of the data policy, and how much of the image
the robot fills.

The robot is what moves: a pixel counts as the robot's when its colour changes by more than ``MOVE_LEVEL`` (of
255, in any channel) somewhere over the episode. A world model learns from pixels, so a robot drawn a few pixels
tall (gymnasium's default cameras for Pusher-v5 and InvertedPendulum-v5 at 64 px) leaves it almost nothing to
learn from; below ``MIN_MOVING_FRACTION`` of the image the preview warns.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

MOVE_LEVEL = 24  # colour change (0-255) that counts as movement, above rendering noise and anti-aliasing
MIN_MOVING_FRACTION = 0.03  # below 3 % of the image the robot is too small to learn from
PREVIEW_FRAMES = 6
PREVIEW_STEPS = 60  # env steps of the previewed episode (it ends sooner if the env ends it)


def moving_fraction(pixels: np.ndarray, level: int = MOVE_LEVEL) -> float:
    """Fraction of the image's pixels whose colour changes by more than ``level`` over the frames.

    Args:
        pixels: uint8 (T, H, W, 3), one episode.
    """
    frames = np.asarray(pixels, dtype=np.int16)
    spread = (frames.max(0) - frames.min(0)).max(-1)  # (H, W): the largest change of any channel
    return float(np.mean(spread > level))


def preview_sheet(pixels: np.ndarray, count: int = PREVIEW_FRAMES, scale: int | None = None) -> np.ndarray:
    """``count`` frames evenly spaced over the episode, side by side, each scaled up to about 128 px; uint8."""
    pixels = np.asarray(pixels, np.uint8)
    idx = np.unique(np.linspace(0, len(pixels) - 1, min(count, len(pixels))).round().astype(int))
    scale = scale or max(1, 128 // pixels.shape[1])
    gap = np.full((pixels.shape[1] * scale, 4, 3), 255, np.uint8)
    tiles = []
    for i in idx:
        tiles += [np.kron(pixels[i], np.ones((scale, scale, 1), np.uint8)), gap]
    return np.concatenate(tiles[:-1], 1)


def camera_preview(cfg, out, steps: int = PREVIEW_STEPS) -> dict:
    """Runs episode 0 of ``cfg`` (a :class:`agent.collect.CollectConfig`) for at most ``steps`` env steps, writes
    ``out`` (PNG: a few of its frames at the collection's image size, scaled up) and returns ``frames`` (recorded),
    ``moving_fraction`` (of the image: what the robot fills) and ``warning`` (a sentence, or None)."""
    from PIL import Image

    from agent.collect import collect_episode
    from common.io_utils import atomic_write

    episode = collect_episode(replace(cfg, steps=min(int(cfg.steps), int(steps))), 0)
    pixels = episode["pixels"]
    fraction = moving_fraction(pixels)
    sheet = Image.fromarray(preview_sheet(pixels))
    atomic_write(out, lambda tmp: sheet.save(tmp, format="PNG"))
    warning = None
    if fraction < MIN_MOVING_FRACTION:
        warning = (f"the robot fills {100 * fraction:.1f} % of the {cfg.image_size} px image (the pixels that change "
                   f"while it moves; under {100 * MIN_MOVING_FRACTION:.0f} % a world model has little to learn "
                   f"from): move the camera closer, e.g. --env-kwargs '{{\"default_camera_config\": {{\"distance\": "
                   f"...}}}}' for a gymnasium MuJoCo env, and preview again")
    return {"frames": int(len(pixels)), "moving_fraction": fraction, "warning": warning}
