"""Atomic file writes: write a temporary file in the same folder, then ``os.replace`` it into place."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable


def atomic_write(path, write_fn: Callable[[str], None]) -> None:
    """Calls ``write_fn(tmp_path)`` and renames the result to ``path``; a crash never leaves a partial file.

    Args:
        path: final file path; its folder is created if needed.
        write_fn: writes the complete file to the temporary path it is given.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write_fn(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path, text: str) -> None:
    """Writes ``text`` to ``path`` atomically."""
    def _write(tmp: str) -> None:
        with open(tmp, "w") as f:
            f.write(text)

    atomic_write(path, _write)
