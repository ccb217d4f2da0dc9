"""Turning whatever a user hands us (a path, a PIL image, an array) into the model's uint8 RGB frames."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def load_image(source) -> np.ndarray:
    """Reads a PNG/JPEG path, a PIL image or an array into a numpy array (not yet checked or resized).

    16-bit images (PIL modes ``I;16``, ``I``) come back as uint16, palette and two-level images as RGB(A) or
    grayscale uint8; a float image (mode ``F``) as float32 in its own range.
    """
    from PIL import Image, UnidentifiedImageError

    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            raise IsADirectoryError(f"{path} is a folder, not an image; give a PNG or JPEG file")
        if not path.is_file():
            raise FileNotFoundError(f"image not found: {path}")
        try:
            with open_image(path) as img:
                return _pil_to_array(img)
        except (UnidentifiedImageError, OSError, SyntaxError) as exc:
            raise ValueError(f"cannot read image {path}: not a PNG/JPEG image or damaged "
                             f"({exc.__class__.__name__})") from None
    if isinstance(source, Image.Image):
        check_pixel_count(source.size, "the image")
        return _pil_to_array(source)
    return np.asarray(source)


MAX_PIXELS = 4096 * 4096  # a goal image's decoded size, checked from its header before any pixel is decoded


def check_pixel_count(size: tuple[int, int], name) -> None:
    """An image of ``size`` (width, height) is at most :data:`MAX_PIXELS`; else a one-line UserInputError."""
    from common.cli_errors import UserInputError

    width, height = (int(v) for v in size)
    if width * height > MAX_PIXELS:
        raise UserInputError(f"{name} is {width} x {height} pixels ({width * height / 1e6:.0f} M); images are read "
                             f"up to {MAX_PIXELS / 1e6:.1f} M pixels (4096 x 4096): resize it")


def open_image(path):
    """``PIL.Image.open(path)`` with its pixel count checked from the header, before anything is decoded (a
    30000 x 30000 PNG would need 2.7 GB, and Pillow's own limit ends in a traceback)."""
    from PIL import Image

    try:
        img = Image.open(path)
    except Image.DecompressionBombError as exc:  # Pillow's own, far larger, limit: its message has the size
        from common.cli_errors import UserInputError

        raise UserInputError(f"image {path} is too large to read ({str(exc).split(' exceeds')[0]}); images are "
                             f"read up to {MAX_PIXELS / 1e6:.1f} M pixels (4096 x 4096): resize it") from None
    try:
        check_pixel_count(img.size, f"image {path}")
    except BaseException:
        img.close()
        raise
    return img


def _pil_to_array(img) -> np.ndarray:
    """A PIL image as an array whose dtype says its range: uint8, uint16 (16-bit modes) or float32 (mode F)."""
    if img.mode in ("P", "PA", "LA"):
        return np.asarray(img.convert("RGBA"))
    if img.mode in ("1", "CMYK", "YCbCr", "LAB", "HSV"):
        return np.asarray(img.convert("L" if img.mode == "1" else "RGB"))
    if img.mode.startswith("I"):  # 16-bit PNGs open as I;16 (or I, 32-bit int holding 16-bit values)
        arr = np.asarray(img).astype(np.int64)
        return np.clip(arr, 0, 65535).astype(np.uint16) if arr.max(initial=0) > 255 else arr.astype(np.uint8)
    return np.asarray(img)


def to_rgb_frames(image, size: int) -> np.ndarray:
    """Converts one image or a batch to uint8 RGB frames of side ``size``.

    Accepts (H, W) grayscale, (H, W, 1), (H, W, 3) RGB, (H, W, 4) RGBA (alpha dropped), or a batch (N, H, W, C)
    of those. Values: uint8 as is, uint16 scaled from [0, 65535], bool as black/white, other integers in
    [0, 255]; float in [0, 1] or in [0, 255], told apart by the range: read as [0, 1] when no value exceeds 1.
    Frames of another size are resized (bilinear).

    Returns:
        uint8 (H', W', 3) for one image or (N, H', W', 3) for a batch, with H' = W' = ``size``.

    Raises:
        ValueError: for any other shape (naming the expected one), values out of range, NaN or infinity.
    """
    arr = load_image(image)
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating) or arr.dtype == np.bool_):
        raise ValueError(f"an image must hold numbers (uint8, or float in [0, 1] or [0, 255]); got an array of "
                         f"dtype {arr.dtype}" + (" (a list of objects? stack them with np.stack)"
                                                 if arr.dtype == object else ""))
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
    batch = to_uint8(batch)
    if batch.shape[-1] == 1:
        batch = np.repeat(batch, 3, axis=-1)
    elif batch.shape[-1] == 4:
        batch = batch[..., :3]
    if batch.shape[1:3] != (size, size):
        batch = np.stack([_resize(frame, size) for frame in batch])
    return batch[0] if single else batch


def to_uint8(arr: np.ndarray) -> np.ndarray:
    """Pixel values of any supported dtype -> uint8 in [0, 255] (see :func:`to_rgb_frames`)."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    if arr.dtype == np.uint16:
        return ((arr.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    if arr.size == 0:
        return arr.astype(np.uint8)
    lo, hi = float(np.min(arr)), float(np.max(arr))
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise ValueError("the image has NaN or infinite values")
        if lo < -1e-6 or hi > 255.0 + 1e-3:
            raise ValueError(f"float image values must be in [0, 1] or [0, 255], got [{lo:.4g}, {hi:.4g}]")
        scale = 255.0 if hi <= 1.0 else 1.0
        return np.clip(arr * scale + 0.5, 0, 255).astype(np.uint8)
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"unsupported image dtype {arr.dtype}; expected uint8, uint16 or float")
    if lo < 0 or hi > 255:
        raise ValueError(f"integer image values must be in [0, 255] (or use uint16 for 16-bit), got [{lo:.0f}, "
                         f"{hi:.0f}] in {arr.dtype}")
    return arr.astype(np.uint8)


def _resize(frame: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(frame).resize((size, size), Image.BILINEAR))
