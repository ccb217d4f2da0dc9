"""The resumable training state: model, optimiser, scheduler, step and every RNG, in one atomic file.

This file is internal to ``lewm-train`` (it uses ``torch.save``); the released checkpoint is the
``config.yaml`` + ``model.safetensors`` folder written by ``LeWM.save``.
"""
from __future__ import annotations

import pickle
import random
from pathlib import Path

import numpy as np
import torch

from common.cli_errors import UserInputError
from common.io_utils import atomic_write

STATE_NAME = "train_state.pt"
STATE_KEYS = ("model", "optimizer", "scheduler", "step", "rng", "extra")


def capture_rng() -> dict:
    """The current torch (CPU and CUDA), numpy and Python RNG states, as tensors and plain Python values."""
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *map(float, np_state[2:])),
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict) -> None:
    """Restores what ``capture_rng`` returned."""
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), int(pos), int(has_gauss), float(cached)))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_train_state(path, model, optimizer, scheduler, step: int, rng_per_rank: list, extra: dict) -> None:
    """Writes the full training state to ``path`` atomically (temp file, then ``os.replace``).

    Args:
        path: the state file.
        model: the unwrapped model.
        rng_per_rank: one ``capture_rng()`` per data-parallel rank (rank order).
        extra: small JSON-like facts (config dict, total steps, world size).
    """
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
             "step": int(step), "rng": rng_per_rank, "extra": extra}
    atomic_write(Path(path), lambda tmp: torch.save(state, tmp))


def _damaged(path: Path, reason: str) -> UserInputError:
    """The one-line error for a state file that cannot be used, saying what is still intact."""
    model = path.parent / "model"
    intact = f"the last released checkpoint in {model} is intact; " if model.is_dir() else ""
    return UserInputError(f"{path} is damaged ({reason}); {intact}delete {path} to start over")


def _load_reason(exc: BaseException) -> str:
    """A short reason from ``torch.load``'s error: its first sentence, or what an empty/foreign file means."""
    text = str(exc).strip()
    if isinstance(exc, EOFError) or not text:
        return "the file is empty or cut off"
    if isinstance(exc, KeyError):
        return "not a torch state file"
    return text.splitlines()[0].split(". ")[0]


def load_train_state(path, map_location="cpu") -> dict:
    """Reads a state file written by ``save_train_state`` (tensors and plain values only).

    Raises:
        UserInputError: the file is truncated, empty, not a torch file, or lacks the state's entries.
    """
    path = Path(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, KeyError, ValueError) as e:
        raise _damaged(path, _load_reason(e)) from None
    missing = [k for k in STATE_KEYS if not isinstance(state, dict) or k not in state]
    if missing or not isinstance(state["extra"], dict) or "config" not in state["extra"]:
        raise _damaged(path, f"not a lewm-train state: missing {', '.join(missing) or 'extra.config'}")
    return state
