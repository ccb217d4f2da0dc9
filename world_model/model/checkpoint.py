"""Released checkpoints: a folder with ``config.yaml`` and ``model.safetensors`` (weights only, no pickle).

``config.yaml`` records the SHA-256 of ``model.safetensors`` (``weights_sha256``); loading requires and checks it
(``trust_unverified`` turns a missing or wrong one into a warning), refuses an empty config, weights safetensors
cannot read, and non-finite weights, so a damaged checkpoint is never used.
"""
from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from common.cli_errors import UserInputError
from world_model.model.config import LeWMConfig
from common.io_utils import atomic_write, file_sha256

CONFIG_NAME = "config.yaml"
WEIGHTS_NAME = "model.safetensors"


class CheckpointMismatchError(UserInputError):
    """The weights in a checkpoint do not fit the architecture its config describes."""


def save_checkpoint(model, path, half: bool = False) -> None:
    """Writes ``model.state_dict()`` and then ``model.cfg`` (with the weights' SHA-256) to the folder ``path``.

    Each file is written atomically; ``model.cfg`` itself is left unchanged (its ``weights_sha256`` stays None).

    Args:
        model: a LeWM (or DDP-unwrapped module with ``.cfg``).
        path: output folder, created if needed.
        half: store floating-point weights as float16 (BatchNorm counters stay integer).
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    state = {}
    for k, v in model.state_dict().items():
        v = v.detach().cpu().contiguous()
        if half and v.is_floating_point():
            v = v.half()
        state[k] = v
    atomic_write(path / WEIGHTS_NAME, lambda tmp: save_file(state, tmp, metadata={"format": "pt"}))
    model.cfg.replace(weights_sha256=file_sha256(path / WEIGHTS_NAME)).to_yaml(path / CONFIG_NAME)


def _describe_mismatch(expected: dict, got: dict) -> str:
    missing = sorted(set(expected) - set(got))
    unexpected = sorted(set(got) - set(expected))
    shapes = [f"{k} {tuple(got[k].shape)} vs config {tuple(expected[k].shape)}"
              for k in sorted(set(expected) & set(got)) if expected[k].shape != got[k].shape]
    parts = []
    for label, items in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatch", shapes)):
        if items:
            more = f" (+{len(items) - 3} more)" if len(items) > 3 else ""
            parts.append(f"{label}: {', '.join(items[:3])}{more}")
    return "; ".join(parts)


def _check_sha256(path: Path, expected, digest: str, trust_unverified: bool = False) -> None:
    """Raises UserInputError unless ``digest`` (of ``path/model.safetensors``) equals ``expected`` (the
    ``weights_sha256`` of config.yaml); a checkpoint that records no checksum is refused too. With
    ``trust_unverified`` (a user who edited the files by hand) either is a warning instead."""
    from world_model.model.model_identity import warn_unverified

    if expected is None:
        problem = (f"checkpoint {path}: {CONFIG_NAME} records no weights_sha256, so {WEIGHTS_NAME} cannot be "
                   f"verified")
        fix = "restore the file (git checkout, for a shipped model), re-save it with LeWM.save"
    elif digest.lower() != expected.lower():
        problem = (f"checkpoint {path}: {WEIGHTS_NAME} does not match the checksum in {CONFIG_NAME} (the file is "
                   f"damaged or was replaced)")
        fix = "restore the file (git checkout, for a shipped model) or re-train it"
    else:
        return
    if trust_unverified:
        warn_unverified(problem)
        return
    raise UserInputError(f"{problem}; {fix}, or pass --trust-unverified if you edited the files yourself")


def _check_config_text(path: Path) -> None:
    """Refuses an empty (or whitespace-only) ``config.yaml``: it would silently build the default architecture."""
    if not (path / CONFIG_NAME).read_bytes().strip():
        raise UserInputError(f"checkpoint {path}: {CONFIG_NAME} is empty; restore it (git checkout, for a shipped "
                             f"model) or re-train")


def _read_weights(path: Path) -> dict:
    """The tensors of ``path/model.safetensors``; a file safetensors cannot read is a UserInputError naming it."""
    try:
        return load_file(str(path / WEIGHTS_NAME), device="cpu")
    except (SafetensorError, ValueError, RuntimeError) as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserInputError(
            f"checkpoint {path}: {WEIGHTS_NAME} is not a readable safetensors file ({reason}); it is empty, truncated "
            f"or damaged: restore the file (git checkout, for a shipped model) or re-train it") from None


def _check_finite(path: Path, weights: dict) -> None:
    """Raises UserInputError naming the first floating-point tensor with a NaN or infinite entry."""
    for name, tensor in weights.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise UserInputError(
                f"checkpoint {path}: weight {name} holds NaN or infinite values (the model diverged or the file is "
                f"damaged); use an earlier checkpoint or re-train")


def load_checkpoint(cls, path, map_location="cpu", trust_unverified: bool = False):
    """Builds ``cls(config)`` from ``path/config.yaml`` and loads ``path/model.safetensors`` as float32.

    The returned model's ``cfg.weights_sha256`` is None (the checksum belongs to the file, not the model); the
    weights file's digest is ``model.checkpoint_sha256``: the identity auxiliary files are checked against
    (``world_model.model.model_identity``). ``trust_unverified``: a missing or wrong checksum is a warning, not an
    error.

    Raises:
        FileNotFoundError: folder, config or weights missing.
        ConfigError: config.yaml is not YAML, not a mapping, or holds a bad value (the message names the file).
        UserInputError: config.yaml empty or without weights_sha256; weights damaged (checksum mismatch,
            unreadable, non-finite values).
        CheckpointMismatchError: keys or shapes differ between the weights and the config's architecture.
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"checkpoint folder not found: {path}")
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        if not (path / name).is_file():
            raise FileNotFoundError(f"checkpoint {path} has no {name}")
    _check_config_text(path)
    cfg = LeWMConfig.from_yaml(path / CONFIG_NAME)
    digest = file_sha256(path / WEIGHTS_NAME)
    _check_sha256(path, cfg.weights_sha256, digest, trust_unverified)
    cfg = cfg.replace(weights_sha256=None)
    got = _read_weights(path)
    _check_finite(path, got)
    model = cls(cfg)
    expected = model.state_dict()
    problem = _describe_mismatch(expected, got)
    if problem:
        raise CheckpointMismatchError(f"checkpoint {path} does not match its config: {problem}")
    got = {k: v.to(expected[k].dtype) for k, v in got.items()}
    model.load_state_dict(got, strict=True)
    model.checkpoint_sha256 = digest
    return model.to(map_location).eval()


FRESH_HEADS = ("state_head.",)  # training-only heads a fine-tune may add to a checkpoint that has none


def init_weights(model, source, path) -> None:
    """Copies the weights of ``source`` (a LeWM loaded from the checkpoint folder ``path``) into ``model``, a fresh
    LeWM built for the new run.

    For fine-tuning: ``lewm-train --init CHECKPOINT`` starts a new run (new optimiser and schedule) from these
    weights (the caller keeps the checkpoint's action/state normalisation in ``model.cfg``). A training-only head
    the new run adds (the state readout, ``state_head.*``) starts fresh; every other weight must match.

    Raises:
        CheckpointMismatchError: the checkpoint's architecture differs from ``model``'s (names what differs).
    """
    expected, got = model.state_dict(), dict(source.state_dict())
    for key, value in expected.items():
        if key.startswith(FRESH_HEADS) and key not in got:
            got[key] = value
    problem = _describe_mismatch(expected, got)
    if problem:
        raise CheckpointMismatchError(f"--init {path}: its architecture differs from the config's ({problem}); "
                                      f"train with the checkpoint's own config.yaml or drop --init")
    model.load_state_dict(got, strict=True)
