"""What a trajectory dataset must be before anything trains on it: unchanged since it was written, and finite.

The collector (``world_model.data.dataset.write_episodes``, used by ``lewm-collect`` and ``agent.record_episodes``)
writes one SHA-256 per episode, over every per-frame column of that episode (``ep_sha256``, (E,) 64-byte ASCII);
readers check it, so a changed or damaged pixel chunk is refused with the episode named, not trained on. Datasets
written elsewhere (stable-worldmodel, le-wm) have no such column: they load with a warning that they cannot be
verified. Values are checked too: an action is finite, except the NaN of an episode's last frame (le-wm's
convention: no action follows it), and near the action box the collector recorded; states are finite.
``lewm-check-data FILE`` (``world_model.data.check_data.check_file``) runs the same checks on its own.
"""
from __future__ import annotations

import hashlib
import logging

import numpy as np

from common.cli_errors import UserInputError

EPISODE_SHA = "ep_sha256"
INDEX_COLUMNS = ("ep_len", "ep_offset", EPISODE_SHA)
RECOLLECT = "re-collect it with lewm-collect (or restore the file)"
MAX_ACTION = 1e6  # any action beyond this magnitude is a damaged or foreign value, whatever the env's units
log = logging.getLogger("world_model.data")


def episode_digest(columns: dict[str, np.ndarray]) -> str:
    """SHA-256 hex digest of one episode: every column (sorted by name) as name, dtype, shape and bytes."""
    digest = hashlib.sha256()
    for name in sorted(columns):
        arr = np.ascontiguousarray(columns[name])
        digest.update(f"{name}|{arr.dtype.str}|{arr.shape}|".encode())
        digest.update(arr.tobytes())
    return digest.hexdigest()


def episode_digests(episodes: list[dict]) -> np.ndarray:
    """One digest per episode, as the ``ep_sha256`` column stores them: (E,) ``S64``."""
    return np.array([episode_digest({k: np.asarray(v) for k, v in ep.items()}) for ep in episodes], dtype="S64")


def _episode_of(row: int, ep_offset: np.ndarray, ep_len: np.ndarray) -> tuple[int, int]:
    """(episode, step within it) of a row."""
    e = int(np.searchsorted(ep_offset, row, side="right") - 1)
    e = max(e, 0)
    while e < len(ep_len) and not ep_offset[e] <= row < ep_offset[e] + ep_len[e]:  # unordered offsets
        e += 1
    if e >= len(ep_len):
        e = int(np.flatnonzero((ep_offset <= row) & (row < ep_offset + ep_len))[0])
    return e, int(row - ep_offset[e])


def verify_checksums(path, columns: dict[str, np.ndarray], ep_offset: np.ndarray, ep_len: np.ndarray,
                     recorded: np.ndarray | None) -> bool:
    """Checks every episode of ``columns`` (all rows of each per-frame column) against ``recorded``.

    Returns False (with a warning) when the file records no checksums; raises UserInputError naming the first
    episode whose data do not match.
    """
    if recorded is None:
        log.warning("%s records no per-episode checksums (not written by lewm-collect): its data cannot be verified",
                    path)
        return False
    if len(recorded) != len(ep_len):
        raise UserInputError(f"dataset {path}: {EPISODE_SHA} has {len(recorded)} entries for {len(ep_len)} episodes; "
                             f"{RECOLLECT}")
    for e, (off, n) in enumerate(zip(ep_offset, ep_len)):
        got = episode_digest({k: v[off:off + n] for k, v in columns.items()})
        if got.encode() != bytes(recorded[e]):
            raise UserInputError(f"dataset {path}: episode {e} (rows {off}-{off + n - 1}) does not match the checksum "
                                 f"its collector wrote ({', '.join(sorted(columns))}): the file was changed or "
                                 f"damaged; {RECOLLECT}")
    return True


def check_values(path, action: np.ndarray, states: dict[str, np.ndarray], ep_offset: np.ndarray,
                 ep_len: np.ndarray, action_low=None, action_high=None, first_episode: int = 0) -> None:
    """Raises UserInputError naming the episode and step of the first action or state that is not a number the
    data can hold: NaN or infinite (NaN is allowed as a whole last-frame action only), or an action outside the
    recorded box ``[action_low, action_high]`` (when the dataset records one) by more than its width (at least 1):
    what no policy of the task sends, such as 1e30; and any action beyond ``MAX_ACTION`` in magnitude.
    ``first_episode``: the index of the first episode given (for the message, when the rows are one episode read
    on its own)."""
    last = np.zeros(len(action), bool)
    ends = ep_offset + ep_len - 1
    last[ends[(ep_len > 0) & (ends < len(action))]] = True
    allowed = last[:, None] & np.isnan(action).all(axis=1, keepdims=True)
    bad = ~np.isfinite(action) & ~allowed
    if bad.any():
        row = int(np.flatnonzero(bad.any(axis=1))[0])
        e, t = _episode_of(row, ep_offset, ep_len)
        e += first_episode
        raise UserInputError(f"dataset {path}: episode {e}, step {t}: action {action[row].tolist()} is NaN or "
                             f"infinite (only an episode's last frame may have a NaN action); {RECOLLECT}")
    if action_low is not None and action_high is not None:
        low, high = (np.asarray(v, np.float64).reshape(-1) for v in (action_low, action_high))
        if len(low) == action.shape[1]:
            slack = np.maximum(1.0, high - low)  # a policy may overshoot a shrunk box (the env clips); not by this
            with np.errstate(invalid="ignore"):
                outside = ((action < low - slack) | (action > high + slack)) & np.isfinite(action)
            if outside.any():
                row = int(np.flatnonzero(outside.any(axis=1))[0])
                e, t = _episode_of(row, ep_offset, ep_len)
                e += first_episode
                raise UserInputError(f"dataset {path}: episode {e}, step {t}: action {action[row].tolist()} is outside "
                                     f"the recorded action box [{low.tolist()}, {high.tolist()}]; {RECOLLECT}")
    with np.errstate(invalid="ignore"):
        huge = np.abs(action) > MAX_ACTION
    if huge.any():
        row = int(np.flatnonzero(huge.any(axis=1))[0])
        e, t = _episode_of(row, ep_offset, ep_len)
        raise UserInputError(f"dataset {path}: episode {first_episode + e}, step {t}: action {action[row].tolist()} is "
                             f"beyond {MAX_ACTION:g} in magnitude, no robot's command; {RECOLLECT}")
    for name, values in states.items():
        if np.issubdtype(values.dtype, np.floating) and not np.isfinite(values).all():
            row = int(np.flatnonzero(~np.isfinite(values.reshape(len(values), -1)).all(axis=1))[0])
            e, t = _episode_of(row, ep_offset, ep_len)
            e += first_episode
            raise UserInputError(f"dataset {path}: episode {e}, step {t}: {name} holds NaN or infinite values; "
                                 f"{RECOLLECT}")


def read_episode(f, name: str, path, e: int, off: int, n: int) -> np.ndarray:
    """Rows ``off .. off + n - 1`` of column ``name``; a read error (a damaged chunk) names the episode."""
    try:
        return f[name][off:off + n]
    except (OSError, RuntimeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserInputError(f"dataset {path}: episode {e} (rows {off}-{off + n - 1}): {name} cannot be read "
                             f"({reason}); the file is damaged: {RECOLLECT}") from None


def read_column(f, name: str, path, ep_offset: np.ndarray, ep_len: np.ndarray) -> np.ndarray:
    """All rows of column ``name`` of an open h5py file; a read error (a damaged chunk) is a UserInputError that
    names the first episode that cannot be read."""
    try:
        return f[name][:]
    except (OSError, RuntimeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    for e, (off, n) in enumerate(zip(ep_offset, ep_len)):
        read_episode(f, name, path, e, int(off), int(n))
    raise UserInputError(f"dataset {path}: {name} cannot be read ({reason}); the file is damaged: {RECOLLECT}")


def frame_columns(f) -> list[str]:
    """The per-frame columns of an open dataset file (one row per frame, as ``pixels``), index columns left out."""
    import h5py

    frames = f["pixels"].shape[0]
    names = [k for k in f if k not in INDEX_COLUMNS and isinstance(f[k], h5py.Dataset) and f[k].shape[:1] == (frames,)]
    return names + [k for k in ("pixels", "action") if k not in names]  # a misfit one is the layout check's
