"""Which model a file was built for: the SHA-256 of a checkpoint's ``model.safetensors``.

A checkpoint's ``config.yaml`` records that digest (``weights_sha256``); every auxiliary file built for the model
(``proposal.safetensors``, ``subgoal.safetensors``, ``waypoints.npz``, ``planning.json``, and any later one)
records it too, under ``model_sha256``. Loading compares the two, so a file built for another model (or one that
says nothing) is refused instead of steering the agent with another model's latents. ``trust_unverified``
(``--trust-unverified``) is the escape for users who edit such files by hand: the check becomes a warning.
"""
from __future__ import annotations

import logging

from common.cli_errors import UserInputError

MODEL_KEY = "model_sha256"
log = logging.getLogger("world_model")


def warn_unverified(message: str) -> None:
    """One warning line on stderr (through logging, so it shows without any logging set-up)."""
    log.warning("warning: %s (--trust-unverified: used anyway)", message)


def check_built_for(path, recorded, model_sha256: str | None, what: str, how_to_rebuild: str,
                    trust_unverified: bool = False) -> None:
    """Raises UserInputError unless ``recorded`` (the file's ``model_sha256``) equals ``model_sha256`` (the
    loaded checkpoint's weights digest); with ``trust_unverified`` a difference is a warning instead.

    Args:
        path: the auxiliary file, for the message.
        recorded: the digest the file records (None or "" when it records none).
        model_sha256: the digest of the checkpoint's model.safetensors; None when the model was not loaded from a
            checkpoint folder (nothing to compare against: accepted).
        what: "proposal policy", "waypoint graph", ...
        how_to_rebuild: the command that builds such a file for this model.
    """
    if model_sha256 is None or (isinstance(recorded, str) and recorded.lower() == model_sha256.lower()):
        return
    if not recorded:
        problem = f"{path} does not record which model it was built for (no {MODEL_KEY})"
    else:
        problem = (f"{path} was built for another model ({MODEL_KEY} {str(recorded)[:12]}..., this checkpoint's "
                   f"weights are {model_sha256[:12]}...)")
    if trust_unverified:
        warn_unverified(problem)
        return
    raise UserInputError(f"{problem}; rebuild the {what} for this model with {how_to_rebuild}, or pass "
                         f"--trust-unverified if you edited the files yourself")


def stamp_file(path, model_sha256: str) -> None:
    """Writes ``model_sha256`` into an auxiliary file that predates it, leaving its content otherwise as it was
    (tensors and arrays bit for bit): a ``.safetensors`` file's metadata, an ``.npz`` archive's arrays, a ``.json``
    object's keys. For a checkpoint's own files only (``lewm-ship --stamp``): stamping says
    "this file was built for this model".
    """
    import json
    from pathlib import Path

    import numpy as np

    from common.io_utils import atomic_write, atomic_write_text

    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors import safe_open
        from safetensors.torch import save_file

        with safe_open(str(path), framework="pt") as f:
            meta = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        meta[MODEL_KEY] = model_sha256
        atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=meta))
    elif path.suffix == ".npz":
        with np.load(path) as f:
            arrays = {k: f[k] for k in f.files}
        arrays[MODEL_KEY] = np.asarray(model_sha256)
        atomic_write(path, lambda tmp: np.savez_compressed(tmp, **arrays))
    elif path.suffix == ".json":
        record = json.loads(path.read_text())
        if not isinstance(record, dict):
            raise UserInputError(f"{path} is not a JSON object; cannot record {MODEL_KEY} in it")
        record[MODEL_KEY] = model_sha256
        atomic_write_text(path, json.dumps(record, indent=1) + "\n")
    else:
        raise UserInputError(f"{path}: cannot record {MODEL_KEY} in a {path.suffix or 'suffix-less'} file")
