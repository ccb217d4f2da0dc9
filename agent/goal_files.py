"""Goal images on disk: PNGs that also carry the pose they show, so success can be measured against it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

POSE_KEY = "lewm_goal_state"
MAX_POSE_TEXT = 65536  # characters: a pose of up to 1000 values with room to spare, bounded before it is parsed


def save_goal_png(path, image: np.ndarray, task: str, goal_qpos: np.ndarray) -> None:
    """Writes a goal image as PNG with the task and pose in a text chunk (readable by ``read_goal_pose``);
    atomically (a temporary file beside it, then a rename)."""
    from PIL import Image, PngImagePlugin

    from common.io_utils import atomic_write

    meta = PngImagePlugin.PngInfo()
    meta.add_text(POSE_KEY, json.dumps({"task": task, "qpos": [float(q) for q in goal_qpos]}))
    picture = Image.fromarray(np.asarray(image, dtype=np.uint8))
    atomic_write(Path(path), lambda tmp: picture.save(tmp, format="PNG", pnginfo=meta))


def read_goal_pose(path) -> tuple[str, np.ndarray] | None:
    """The (task, qpos) stored in a goal PNG by ``save_goal_png``, or None for any other image."""
    from agent.images import open_image
    from common.cli_errors import UserInputError

    try:
        with open_image(path) as img:  # its pixel count checked first: reading text chunks may decode the image
            text = getattr(img, "text", {}).get(POSE_KEY)
    except OSError:
        return None
    if not text:
        return None
    if len(text) > MAX_POSE_TEXT:
        raise UserInputError(f"{path}: its pose text ({POSE_KEY}) is {len(text)} characters long, at most "
                             f"{MAX_POSE_TEXT}: not a goal image written by lewm-plan --make-goal; make it again")
    try:
        data = json.loads(text)
        task, qpos = str(data["task"]), np.asarray(data["qpos"], dtype=np.float64).reshape(-1)
    except (ValueError, KeyError, TypeError, RecursionError):  # someone else's text chunk: an image without a pose
        return None
    if len(task) > 100 or qpos.size > 1000:
        raise UserInputError(f"{path}: its pose text names a task of {len(task)} characters and {qpos.size} state "
                             f"values (at most 100 and 1000): make the goal image again with lewm-plan --make-goal")
    return task, qpos
