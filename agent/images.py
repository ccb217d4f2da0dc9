"""Turning whatever a user hands us (a path, a PIL image, an array) into the model's uint8 RGB frames."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def load_image(source) -> np.ndarray:
    """Reads a PNG/JPEG path, a PIL image or an array into a numpy array (not yet checked or resized)."""
    from PIL import Image, UnidentifiedImageError

    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"image not found: {path}")
        try:
            with Image.open(path) as img:
                return np.asarray(img.convert("RGBA") if img.mode in ("P", "LA") else img)
        except (UnidentifiedImageError, OSError) as exc:
            raise ValueError(f"cannot read image {path}: not a PNG/JPEG image ({exc.__class__.__name__})") from None
    if isinstance(source, Image.Image):
        return np.asarray(source)
    return np.asarray(source)


def to_rgb_frames(image, size: int) -> np.ndarray:
    """Converts one image or a batch to uint8 RGB frames of side ``size``.

    Accepts (H, W) grayscale, (H, W, 1), (H, W, 3) RGB, (H, W, 4) RGBA (alpha dropped), or a batch (N, H, W, C)
    of those; uint8 in [0, 255] or float in [0, 1]. Frames of another size are resized (bilinear).

    Returns:
        uint8 (H', W', 3) for one image or (N, H', W', 3) for a batch, with H' = W' = ``size``.

    Raises:
        ValueError: for any other shape, naming the expected one.
    """
    arr = load_image(image)
    expected = f"expected an RGB image (H, W, 3), grayscale (H, W), RGBA (H, W, 4), or a batch (N, H, W, 3); " \
               f"the model uses {size}x{size}"
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim == 3 and arr.shape[-1] not in (1, 3, 4):
        raise ValueError(f"{expected}; got shape {arr.shape}")
    if arr.ndim not in (3, 4) or arr.shape[-1] not in (1, 3, 4) or min(arr.shape[-3:-1]) < 1:
        raise ValueError(f"{expected}; got shape {arr.shape}")
    single = arr.ndim == 3
    batch = arr[None] if single else arr
    if np.issubdtype(batch.dtype, np.floating):
        batch = np.clip(np.nan_to_num(batch) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    elif batch.dtype != np.uint8:
        batch = np.clip(batch, 0, 255).astype(np.uint8)
    if batch.shape[-1] == 1:
        batch = np.repeat(batch, 3, axis=-1)
    elif batch.shape[-1] == 4:
        batch = batch[..., :3]
    if batch.shape[1:3] != (size, size):
        batch = np.stack([_resize(frame, size) for frame in batch])
    return batch[0] if single else batch


def _resize(frame: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(frame).resize((size, size), Image.BILINEAR))
