"""Episode videos (mp4 through ffmpeg, gif through Pillow), written atomically and read back before they are kept.

ffmpeg's own failures (a full disk: "error writing trailer") do not reach its Python caller, so a video counts as
written only once it reads back with every frame; otherwise the command ends in one line and nothing is left.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from common.cli_errors import UserInputError
from common.io_utils import atomic_write, out_of_space


def write_video(path, frames: list[np.ndarray], fps: int = 25) -> None:
    """Writes ``frames`` (each uint8 (H, W, 3), all one size) to ``path`` (.mp4 or .gif) atomically.

    Raises :class:`~common.io_utils.DiskFullError` when space runs out, and UserInputError (one line) for any
    other writer failure or a file that does not read back with ``len(frames)`` frames.
    """
    import imageio.v2 as imageio

    path = Path(path)

    def _write(tmp: str) -> None:
        try:
            if path.suffix.lower() == ".gif":
                _write_gif(tmp, frames, fps)
            else:
                imageio.mimsave(tmp, frames, fps=fps, ffmpeg_log_level="quiet")  # failures: read back below
        except Exception as exc:  # noqa: BLE001 - any writer failure is reported as one line (below)
            error = _writer_error(path, tmp, exc)
            if error is exc:
                raise
            raise error from None

    atomic_write(path, _write, verify=lambda tmp: _check_readback(path, tmp, len(frames)))


def _write_gif(tmp: str, frames: list[np.ndarray], fps: int) -> None:
    """An animated GIF through Pillow into a file this function owns, so a failed write raises here and is not
    left to a writer's destructor (imageio's Pillow plugin reports it again at exit)."""
    from PIL import Image

    images = [Image.fromarray(np.asarray(f, np.uint8)) for f in frames]
    with open(tmp, "wb") as fh:
        images[0].save(fh, format="GIF", save_all=True, append_images=images[1:], duration=int(round(1000 / fps)),
                       loop=0)


def _writer_error(path: Path, tmp: str, exc: Exception) -> Exception:
    """The error to raise for a writer exception: kept as is when it is out-of-space (``atomic_write`` words it),
    else one line naming the video."""
    if out_of_space(exc, path.parent, tmp):
        return exc
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return UserInputError(f"cannot write the video {path}: {reason[:200]}")


def count_frames(path) -> int:
    """How many frames a written video holds (decoded, so a truncated or damaged file raises)."""
    if str(path).lower().endswith(".gif"):
        from PIL import Image

        with Image.open(path) as im:
            im.seek(im.n_frames - 1)
            im.load()
            return int(im.n_frames)
    import imageio_ffmpeg

    return int(imageio_ffmpeg.count_frames_and_secs(str(path))[0])


def _check_readback(path: Path, tmp: str, expected: int) -> None:
    """The written temporary file reads back with ``expected`` frames; else out-of-space or one-line error."""
    try:
        found = count_frames(tmp)
    except Exception as exc:  # noqa: BLE001 - an unreadable result is the failure we look for
        raise _writer_error(path, tmp, RuntimeError(f"the written file does not read back ({exc})")) from exc
    if found != expected:
        raise _writer_error(path, tmp, RuntimeError(f"the written file holds {found} of {expected} frames"))
