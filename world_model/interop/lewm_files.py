"""Reading le-wm / stable-worldmodel checkpoint files into our LeWM, and writing ours in their layout.

Their files: a folder with ``weights.pt`` (a state dict) and ``config.json`` (Hydra-style, what stable-worldmodel's
``save_pretrained`` writes and ``load_pretrained`` reads; the Hugging Face repos ``quentinll/lewm-*`` hold this
pair), or the older Drive archive's ``<name>_weight.ckpt`` (a state dict). Tensors only are read
(``torch.load(weights_only=True)``); the archive's ``<name>_object.ckpt`` is a whole pickled model and is refused
without being opened, since unpickling runs whatever code it names.
"""
from __future__ import annotations

import atexit
import json
import pickle
import shutil
import tempfile
from pathlib import Path

import torch

from world_model.model.checkpoint import CheckpointMismatchError, _describe_mismatch
from common.cli_errors import UserInputError
from world_model.model.config import LeWMConfig
from world_model.interop.lewm_layout import (config_from_theirs, config_from_weights, config_to_theirs, to_ours,
                                             to_theirs)
from common.io_utils import atomic_write, atomic_write_text

THEIR_WEIGHTS = "weights.pt"
THEIR_CONFIG = "config.json"
_ROOTS = ("encoder.", "predictor.", "action_encoder.", "projector.", "pred_proj.")
_WRAPPERS = ("model.", "module.", "world_model.", "_orig_mod.")  # Lightning, DDP, torch.compile prefixes
# Task names recognised in a source path (the Hugging Face repos are lewm-pusht, -cube, -tworooms, -reacher).
_TASK_WORDS = {"pusht": "pusht", "cube": "cube", "tworooms": "tworoom", "tworoom": "tworoom", "reacher": "reacher"}


class PickledModelError(UserInputError):
    """The file is a whole pickled model (``torch.save(model)``), which we never unpickle."""


def _object_ckpt_error(path: Path) -> PickledModelError:
    stem = path.name[: -len("_object.ckpt")]
    return PickledModelError(
        f"{path} is a whole pickled model (torch.save(model)); lewm-import never unpickles code: import "
        f"{stem}_weight.ckpt from the same archive, or the weights.pt + config.json pair")


def find_source(path) -> tuple[Path, Path | None]:
    """``DIR_OR_FILE`` -> (weights file, its config.json or None).

    A folder must hold ``weights.pt``, or exactly one ``*.pt`` or ``*_weight.ckpt`` file.

    Raises:
        FileNotFoundError: nothing at ``path``, or a folder with no weights file.
        PickledModelError: only a ``*_object.ckpt`` to read.
        UserInputError: several candidate weight files.
    """
    path = Path(path)
    if path.is_file():
        if path.name.endswith("_object.ckpt"):
            raise _object_ckpt_error(path)
        config = path.parent / THEIR_CONFIG
        return path, config if config.is_file() else None
    if not path.is_dir():
        raise FileNotFoundError(f"no checkpoint at {path}; give a folder with weights.pt + config.json, or a "
                                f"weights file")
    config = path / THEIR_CONFIG
    config = config if config.is_file() else None
    if (path / THEIR_WEIGHTS).is_file():
        return path / THEIR_WEIGHTS, config
    found = sorted(path.glob("*.pt")) + sorted(path.glob("*_weight.ckpt"))
    if len(found) == 1:
        return found[0], config
    if len(found) > 1:
        raise UserInputError(f"{path} holds several weight files ({', '.join(p.name for p in found[:3])}); "
                             f"pass the one to import")
    objects = sorted(path.glob("*_object.ckpt"))
    if objects:
        raise _object_ckpt_error(objects[0])
    raise FileNotFoundError(f"{path} holds no weights.pt, *.pt or *_weight.ckpt file")


def _strip_wrapper(state: dict) -> dict:
    """Drops a prefix that wraps every key (``model.`` of a Lightning module, ``module.`` of DDP)."""
    for prefix in _WRAPPERS:
        if not any(k.startswith(_ROOTS) for k in state) and state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def load_state(path) -> dict:
    """The tensors of a state-dict file, read with ``torch.load(weights_only=True)``.

    A Lightning-style ``{"state_dict": ...}`` or ``{"model": ...}`` wrapper and a prefix on every key are removed.

    Raises:
        PickledModelError: a ``*_object.ckpt``, or a file that needs arbitrary unpickling.
        UserInputError: not a torch file, or not a mapping of names to tensors.
    """
    path = Path(path)
    if path.name.endswith("_object.ckpt"):
        raise _object_ckpt_error(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise PickledModelError(
            f"{path} holds pickled Python objects, not only tensors ({first[:120]}); lewm-import never unpickles "
            f"code: export a state dict (torch.save(model.state_dict(), ...))") from None
    except (RuntimeError, EOFError, OSError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserInputError(f"{path} is not a readable torch file ({first[:160]})") from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    elif isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise UserInputError(f"{path} does not hold a state dict (a mapping of names to tensors)")
    return _strip_wrapper(dict(obj))


def guess_task(path) -> str:
    """Our task name when a word of ``path`` names one (``lewm-pusht`` -> ``pusht``), else ``""``."""
    for part in reversed(Path(path).resolve().parts):
        for word in part.lower().replace("_", "-").split("-"):
            if word in _TASK_WORDS:
                return _TASK_WORDS[word]
    return ""


def read_their_checkpoint(path, frameskip: int = 5, **overrides):
    """Builds our LeWM (eval mode, float32) from a le-wm / stable-worldmodel checkpoint.

    Args:
        path: a folder (``weights.pt`` + ``config.json``) or a weights file (``config.json`` beside it is used).
        frameskip: env steps per action block; splits their action encoder's input into ``frameskip *
            action_dim`` (le-wm's four tasks: 5).
        **overrides: LeWMConfig fields to set (``task``, ``action_mean``, ``action_std`` ...); the rest start from
            the ``paper`` preset. Without ``task`` one is guessed from the path.

    Returns:
        (model, notes): notes is a list of one-line remarks (skipped unused weights, inferred settings).

    Raises:
        UserInputError (and subclasses): any file or key that cannot be mapped, in one line.
    """
    from world_model.model.lewm import LeWM

    weights, config = find_source(path)
    theirs = load_state(weights)
    ours, skipped = to_ours(theirs, source=str(weights))
    notes = [f"skipped {len(skipped)} weight(s) their forward never uses ({skipped[0]}, ...)"] if skipped else []
    if config is not None:
        try:
            d = json.loads(config.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise UserInputError(f"{config} is not JSON ({str(e).splitlines()[0]})") from None
        fields = config_from_theirs(d, frameskip, source=str(config))
    else:
        fields = config_from_weights(ours, frameskip, source=str(weights))
        notes.append(f"no {THEIR_CONFIG} beside {weights.name}: sizes read off the weights, ViT heads by width, "
                     f"predictor heads 64 wide")
    fields.update({k: v for k, v in overrides.items() if v is not None})
    if not fields.get("task"):
        fields["task"] = guess_task(path)
    cfg = LeWMConfig.from_dict({"preset": "paper", **fields})
    model = LeWM(cfg)
    expected = model.state_dict()
    problem = _describe_mismatch(expected, ours)
    if problem:
        raise CheckpointMismatchError(f"{weights} does not match {config or 'the sizes read off it'}: {problem}")
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in ours.items()}, strict=True)
    return model.eval(), notes


def write_their_checkpoint(model, out, vit_layout: str = "transformers4") -> list:
    """Writes ``out/weights.pt`` (a plain state dict) and ``out/config.json`` in le-wm / stable-worldmodel's layout.

    Returns the names of our training-only weights left out (decoder, state readout), which their LeWM lacks.
    """
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    config = config_to_theirs(model.cfg)  # refuses what their code cannot hold before anything is written
    theirs, dropped = to_theirs(state, vit_layout)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / THEIR_WEIGHTS, lambda tmp: torch.save(theirs, tmp))
    atomic_write_text(out / THEIR_CONFIG, json.dumps(config, indent=2) + "\n")
    return dropped


_CONVERTED: dict = {}  # (folder, task, weights mtime) -> our converted folder, for this process


def is_their_folder(path) -> bool:
    """Whether ``path`` is a le-wm / stable-worldmodel checkpoint folder (and not one of ours)."""
    path = Path(path)
    if not path.is_dir() or (path / "config.yaml").is_file():
        return False
    return ((path / THEIR_WEIGHTS).is_file() or any(path.glob("*_weight.ckpt")) or any(path.glob("*_object.ckpt"))
            or ((path / THEIR_CONFIG).is_file() and any(path.glob("*.pt"))))


def converted_folder(path, task: str | None = None) -> Path:
    """Our checkpoint folder for their checkpoint folder ``path``, converted on first use in this process into a
    private temporary folder that is removed at exit (``lewm-import`` keeps a conversion, with action statistics).

    ``task``: our task name; None guesses it from the path.
    """
    weights, _ = find_source(path)
    key = (str(Path(path).resolve()), task, weights.stat().st_mtime_ns)
    if key not in _CONVERTED:
        model, _ = read_their_checkpoint(path, task=task)
        out = Path(tempfile.mkdtemp(prefix="lewm-import-"))
        atexit.register(shutil.rmtree, out, True)
        model.save(out)
        _CONVERTED[key] = out
    return _CONVERTED[key]
