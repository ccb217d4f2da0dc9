"""Goal images on disk: PNGs that also carry the pose they show, so success can be measured against it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

POSE_KEY = "lewm_goal_state"


def save_goal_png(path, image: np.ndarray, task: str, goal_qpos: np.ndarray) -> None:
    """Writes a goal image as PNG with the task and pose in a text chunk (readable by ``read_goal_pose``);
    atomically (a temporary file beside it, then a rename)."""
    from PIL import Image, PngImagePlugin

    from world_model.io_utils import atomic_write

    meta = PngImagePlugin.PngInfo()
    meta.add_text(POSE_KEY, json.dumps({"task": task, "qpos": [float(q) for q in goal_qpos]}))
    picture = Image.fromarray(np.asarray(image, dtype=np.uint8))
    atomic_write(Path(path), lambda tmp: picture.save(tmp, format="PNG", pnginfo=meta))


def read_goal_pose(path) -> tuple[str, np.ndarray] | None:
    """The (task, qpos) stored in a goal PNG by ``save_goal_png``, or None for any other image."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            text = getattr(img, "text", {}).get(POSE_KEY)
    except OSError:
        return None
    if not text:
        return None
    try:
        data = json.loads(text)
        return str(data["task"]), np.asarray(data["qpos"], dtype=np.float64).reshape(-1)
    except (ValueError, KeyError, TypeError):  # someone else's text chunk: an image without a pose
        return None
