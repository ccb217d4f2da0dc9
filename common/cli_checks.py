"""Checks every command runs before any work: option ranges and output paths that can be written.

Each raises :class:`UserInputError` naming the option and the fix; nothing is created here.
"""
from __future__ import annotations

import os
from pathlib import Path

from common.cli_errors import UserInputError


def check_at_least(args, minimum: int, *names: str) -> None:
    """Each ``args.<name>`` that is set must be an integer >= ``minimum``; names are spelled as options."""
    for name in names:
        value = getattr(args, name, None)
        if value is not None and value < minimum:
            raise UserInputError(f"--{name.replace('_', '-')} must be at least {minimum}, got {value}")


def check_output_folder(path, option: str) -> Path:
    """``path`` is (or can be created as) a writable folder; nothing is created here."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserInputError(f"{option} {path} is a file, not a folder; give a folder name")
    existing = path
    while not existing.exists() and existing != existing.parent:  # the nearest folder that exists
        existing = existing.parent
    if not existing.is_dir():
        raise UserInputError(f"{option} {path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserInputError(f"{option} {path}: {existing} is not writable")
    return path


def check_checkpoint_folder(path) -> Path:
    """``path`` is a checkpoint folder (it holds ``config.yaml``); the folder as a Path."""
    folder = Path(path)
    if not (folder / "config.yaml").is_file():
        raise UserInputError(f"{folder} is not a checkpoint folder (no config.yaml)")
    return folder


def check_output_file(path, option: str) -> Path:
    """``path`` names a file we may create or replace: not a folder, in an existing writable folder."""
    path = Path(path)
    if path.is_dir():
        raise UserInputError(f"{option} {path} is a folder; give a file name")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UserInputError(f"{option} {path}: the folder {folder} does not exist (create it first)")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserInputError(f"{option} {path}: the folder {folder} is not writable")
    if path.exists() and not os.access(path, os.W_OK):
        raise UserInputError(f"{option} {path} exists and is not writable")
    return path


MODULE_NAME = r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*"


def checked_module_name(name: str, option: str = "--import") -> str:
    """``name`` spelled as a Python module (``pkg.mod``, at most 200 characters) and findable on the path; found
    without running it (only a dotted name's parent packages are imported, as Python must)."""
    import importlib.util
    import re

    if len(name) > 200 or not re.fullmatch(MODULE_NAME, name):
        raise UserInputError(f"{option} {name[:60]!r}: not a Python module name (e.g. my_envs or my_pkg.envs)")
    try:
        found = importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise UserInputError(f"{option} {name}: no such module; is it installed or on PYTHONPATH?")
    return name


MAX_IMAGE_SIZE = 1024  # pixels per side of a rendered frame (the paper's models use 224)


def check_image_size(args, option: str = "--image-size") -> None:
    """``args.image_size`` (when set) is at most :data:`MAX_IMAGE_SIZE`: a 50000 px frame would need 7.5 GB per
    image and the kernel would end the process without a word."""
    size = getattr(args, "image_size", None)
    if size is not None and size > MAX_IMAGE_SIZE:
        raise UserInputError(f"{option} must be at most {MAX_IMAGE_SIZE} pixels, got {size}")


def check_seed(args, option: str = "--seed") -> None:
    """``args.seed`` (when set) is a seed every generator takes: an integer in [0, 2**32 - 1]."""
    seed = getattr(args, "seed", None)
    if seed is not None and not 0 <= seed < 2**32:
        raise UserInputError(f"{option} must be an integer in [0, 4294967295], got {seed}")
