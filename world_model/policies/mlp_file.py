"""Saving and loading the small MLPs that ride along in a checkpoint folder (proposal and subgoal policies).

One safetensors file per MLP: its weights (float16 on disk when asked; they load back as float32), its
constructor arguments (``dims``) and a free-form ``info`` dict (training metrics) in the metadata.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from common.cli_errors import UserInputError
from common.io_utils import atomic_write
from world_model.model.model_identity import MODEL_KEY


def save_mlp(module: torch.nn.Module, path: Path, dims: dict, info: dict | None = None, half: bool = False,
             model_sha256: str | None = None) -> Path:
    """Writes ``module``'s weights to ``path`` atomically, with ``dims``, ``info`` and ``model_sha256`` (the
    weights digest of the world model it was trained for; see ``world_model.model.model_identity``) in the metadata."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: (v.half() if half else v).detach().cpu().contiguous() for k, v in module.state_dict().items()}
    meta = {"dims": json.dumps(dims), "info": json.dumps(info or {})}
    if model_sha256:
        meta[MODEL_KEY] = str(model_sha256)
    atomic_write(path, lambda tmp: save_file(state, tmp, metadata=meta))
    return path


MAX_DIMS_TEXT = 4096  # characters of the ``dims`` metadata
MAX_SIZE = 1 << 16  # any one declared size (width, horizon, depth)


def _checked_dims(text: str, shapes: dict, path: Path, what: str, how_to_train: str) -> dict:
    """The ``dims`` metadata as constructor arguments, bounded before anything is built: short JSON text, a flat
    object of numbers, booleans and short strings, every integer in [0, 65536], and no more layers (``depth``) than
    the file holds tensors."""
    bad = f"{path} is not a readable {what}: its dims metadata"
    if len(text) > MAX_DIMS_TEXT:
        raise UserInputError(f"{bad} is {len(text)} characters long (at most {MAX_DIMS_TEXT}); retrain it with "
                             f"{how_to_train}")
    try:
        dims = json.loads(text)
    except (ValueError, RecursionError):
        raise UserInputError(f"{bad} is not JSON; retrain it with {how_to_train}") from None
    scalars = (int, float, bool, str, type(None))
    if not isinstance(dims, dict) or not all(isinstance(v, scalars) and (not isinstance(v, str) or len(v) <= 64)
                                             for v in dims.values()):
        raise UserInputError(f"{bad} is not a flat object of sizes; retrain it with {how_to_train}")
    for key, value in dims.items():
        if isinstance(value, int) and not isinstance(value, bool) and not 0 <= value <= MAX_SIZE:
            raise UserInputError(f"{bad} declares {key}: {value}, outside [0, {MAX_SIZE}]; retrain it with "
                                 f"{how_to_train}")
    if isinstance(dims.get("depth"), int) and dims["depth"] > len(shapes):
        raise UserInputError(f"{bad} declares depth {dims['depth']} but the file holds {len(shapes)} tensors; "
                             f"retrain it with {how_to_train}")
    return dims


def load_mlp(cls, path, file_name: str, what: str, how_to_train: str, map_location="cpu"):
    """``cls(**dims)`` with the weights of ``path`` (a file, or the folder holding ``file_name``), in eval mode,
    with its ``info`` dict attached.

    Raises:
        FileNotFoundError: no such file.
        UserInputError: the file is not such an MLP, or its weights are damaged or not finite.
    """
    from safetensors import safe_open

    path = Path(path)
    path = path / file_name if path.is_dir() else path
    if not path.is_file():
        raise FileNotFoundError(f"no {what} at {path} (train one with {how_to_train})")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
        dims = _checked_dims(meta["dims"], shapes, path, what, how_to_train)
        with torch.device("meta"):  # the declared sizes, built without memory, must be the file's own tensors
            declared = {k: tuple(v.shape) for k, v in cls(**dims).state_dict().items()}
        if declared != shapes:
            raise UserInputError(f"{path}: its declared sizes (dims {dims}) do not match the tensors it holds; "
                                 f"retrain it with {how_to_train}")
        state = load_file(str(path), device=str(map_location))
        module = cls(**dims)
        module.load_state_dict(state)
    except UserInputError:
        raise
    except (SafetensorError, KeyError, ValueError, RuntimeError, OSError, TypeError) as exc:
        raise UserInputError(f"{path} is not a readable {what} ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0][:200]}); retrain it with {how_to_train}") from exc
    if not all(torch.isfinite(v).all() for v in state.values()):
        raise UserInputError(f"{path} holds non-finite weights; retrain it with {how_to_train}")
    module.info = json.loads(meta.get("info", "{}"))
    module.model_sha256 = meta.get(MODEL_KEY)  # None in files from before it was recorded
    return module.to(map_location).eval()
