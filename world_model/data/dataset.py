"""Trajectory datasets in the HDF5 layout of stable-worldmodel and le-wm, and training windows over them.

Layout: one dataset per column, rows are frames of all episodes back to back::

    pixels    uint8   (N, H, W, 3)
    action    float32 (N, A)    the action taken at that frame; NaN on the last frame of an episode
    qpos      float32 (N, nq)   and other state columns (qvel, ...)
    ep_len    int64   (E,)      frames per episode
    ep_offset int64   (E,)      row of each episode's first frame

File attributes hold the collection metadata (env, image size, policy, seed, ...).
"""

from __future__ import annotations

import hashlib
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import h5py
import numpy as np
import torch

from common.cli_errors import UserInputError
from world_model.data.data_integrity import EPISODE_SHA, check_values, episode_digests, frame_columns, read_column
from world_model.data.data_integrity import verify_checksums
from common.io_utils import atomic_write, check_free_space, in_child_process

REQUIRED_COLUMNS = ("pixels", "action", "ep_len", "ep_offset")
RECOLLECT = "re-collect it with lewm-collect"


def _h5_reason(exc: BaseException) -> str:
    """h5py's own reason, without its ``Unable to ... open file (...)`` wrapper."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    inner = re.fullmatch(r"[^(]*\((.*)\)", text)
    return inner.group(1) if inner else text


@contextmanager
def open_dataset(path: str | os.PathLike, required: tuple[str, ...] = ()) -> Iterator[h5py.File]:
    """Opens an HDF5 dataset for reading; every way a user's file can be wrong is one clear UserInputError.

    A folder, an empty, truncated or non-HDF5 file, a read error inside it, or a missing ``required`` column
    raise UserInputError naming the file and the fix; a missing file raises FileNotFoundError.
    """
    path = Path(path)
    if path.is_dir():
        raise UserInputError(f"cannot read dataset {path}: it is a folder; pass the .h5 file lewm-collect wrote")
    if not path.is_file():
        raise FileNotFoundError(f"dataset not found: {path}; check the path or collect one with lewm-collect")
    try:
        with open(path, "rb") as probe:  # a file we may not read is not a damaged one: no "re-collect" advice
            probe.read(8)
        f = h5py.File(path, "r")
    except PermissionError:
        raise UserInputError(f"cannot read dataset {path}: permission denied (its permissions do not let you read "
                             f"it: fix them with chmod, or run as its owner)") from None
    except OSError as e:
        raise UserInputError(f"cannot read dataset {path}: not an HDF5 file or truncated ({_h5_reason(e)}); "
                             f"{RECOLLECT}") from None
    try:
        missing = [c for c in required if c not in f]
        if missing:
            raise UserInputError(f"cannot read dataset {path}: it is not a trajectory dataset, missing columns "
                                 f"{missing} (needs {', '.join(REQUIRED_COLUMNS)}); {RECOLLECT}")
        yield f
    except (OSError, KeyError, RuntimeError) as e:
        raise UserInputError(f"cannot read dataset {path}: the file is damaged or truncated ({_h5_reason(e)}); "
                             f"{RECOLLECT}") from None
    finally:
        f.close()


def write_episodes(path: str | os.PathLike, episodes: list[dict], attrs: dict | None = None) -> None:
    """Writes episodes to an HDF5 file atomically (:func:`common.io_utils.atomic_write`: a unique temporary
    file, then a rename; a full disk is one line and leaves nothing).

    Args:
        path: destination ``.h5`` file.
        episodes: dicts of equal-keyed arrays; each array has the episode's frames on axis 0
            (``pixels`` (T+1, H, W, 3) uint8, ``action`` (T+1, A), ``qpos`` (T+1, nq), ...).
        attrs: metadata stored as file attributes (strings, numbers).
    """
    if not episodes:
        raise ValueError("no episodes to write")
    path = Path(path)
    columns = list(episodes[0])
    lengths = np.array([len(ep["pixels"]) for ep in episodes], dtype=np.int64)

    def _write(tmp: str) -> None:
        with h5py.File(tmp, "w") as f:
            for col in columns:
                first = np.asarray(episodes[0][col])
                dset = f.create_dataset(col, shape=(int(lengths.sum()), *first.shape[1:]), dtype=first.dtype,
                                        chunks=(min(256, int(lengths.sum())), *first.shape[1:]))
                row = 0
                for ep in episodes:
                    arr = np.asarray(ep[col])
                    dset[row : row + len(arr)] = arr
                    row += len(arr)
            f.create_dataset("ep_len", data=lengths)
            f.create_dataset("ep_offset", data=np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64))
            f.create_dataset(EPISODE_SHA, data=episode_digests(episodes))  # checked by every reader
            for key, value in (attrs or {}).items():
                f.attrs[key] = value

    # A unique temporary name (never a fixed one a planted link could hold); the space checked first, and HDF5 run
    # in a child process, since it crashes the interpreter after a write that fails for a full disk.
    check_free_space(path, sum(int(np.asarray(ep[col]).nbytes) for ep in episodes for col in columns))
    atomic_write(path, in_child_process(_write))


def read_attrs(path: str | os.PathLike, required: tuple[str, ...] = ()) -> dict:
    """The file attributes (collection metadata) of a dataset.

    Raises the same one-line UserInputError as ``open_dataset`` for a folder, a damaged or non-HDF5 file, or a
    missing ``required`` column (e.g. ``("qpos",)``), and FileNotFoundError for a missing file.
    """
    with open_dataset(path, required) as f:
        return dict(f.attrs)


def dataset_angle_qpos(attrs: dict) -> list[int] | None:
    """The qpos indices that are angles, as the collector recorded them (``angle_qpos`` attribute, from the
    env's declaration); None when the dataset does not say (older or foreign datasets)."""
    value = attrs.get("angle_qpos")
    if value is None:
        return None
    return [int(i) for i in np.asarray(value).reshape(-1)]


def _episode_rows(ep_offset: np.ndarray, ep_len: np.ndarray, episodes: np.ndarray) -> np.ndarray:
    """Row indices of all frames of the given episodes."""
    rows = [np.arange(ep_offset[e], ep_offset[e] + ep_len[e]) for e in episodes]
    return np.concatenate(rows) if rows else np.zeros(0, np.int64)


def _action_stats(action: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean and std (floored at 1e-6) of the finite actions among ``rows``, computed in float64;
    statistics that do not fit float32 (actions near 1e20 and beyond) are a UserInputError."""
    actions = action[rows].astype(np.float64)
    actions = actions[np.all(np.isfinite(actions), axis=1)]
    if len(actions) == 0:
        raise UserInputError("no finite actions to compute normalisation statistics from (every action is NaN)")
    mean, std = actions.mean(0), np.maximum(actions.std(0), 1e-6)
    if not (np.isfinite(mean.astype(np.float32)).all() and np.isfinite(std.astype(np.float32)).all()):
        raise UserInputError(f"the actions' mean {mean.tolist()} and std {std.tolist()} do not fit float32: "
                             f"the data hold actions far outside any action box")
    return mean.astype(np.float32), std.astype(np.float32)


def _check_layout(path: Path, pixels: np.ndarray, action: np.ndarray, ep_len: np.ndarray,
                  ep_offset: np.ndarray) -> None:
    """Raises UserInputError when the columns do not form the layout above (shapes, episode index in range)."""
    problem = None
    if pixels.ndim != 4 or pixels.shape[-1] != 3:
        problem = f"pixels has shape {pixels.shape}, expected (frames, H, W, 3)"
    elif action.ndim != 2 or len(action) != len(pixels):
        problem = f"action has shape {action.shape} for {len(pixels)} frames, expected ({len(pixels)}, A)"
    elif len(ep_len) == 0:
        problem = "it holds no episodes"
    elif len(ep_len) != len(ep_offset) or (ep_len < 0).any() or (ep_offset < 0).any() or \
            (ep_offset + ep_len > len(pixels)).any():
        problem = "its episode index (ep_len, ep_offset) does not fit its frames"
    if problem:
        raise UserInputError(f"cannot read dataset {path}: {problem}; {RECOLLECT}")


def data_files(path: str | os.PathLike | list) -> list[Path]:
    """One dataset path, a list of them, or several joined by ``os.pathsep`` (``a.h5:b.h5``) -> list of Paths."""
    if isinstance(path, (list, tuple)):
        items = [str(p) for p in path]
    else:
        items = str(path).split(os.pathsep)
    paths = [Path(p).expanduser() for p in items if p]
    if not paths:
        raise UserInputError("no dataset given: pass one or more .h5 files lewm-collect wrote")
    return paths


def _read_checked(path: Path, state_columns) -> dict:
    """Every column of one dataset file, after the layout, checksum and value checks (as ``TrajectoryDataset``)."""
    with open_dataset(path, REQUIRED_COLUMNS) as f:
        ep_len = f["ep_len"][:].astype(np.int64)
        ep_offset = f["ep_offset"][:].astype(np.int64)
        raw = {c: read_column(f, c, path, ep_offset, ep_len) for c in frame_columns(f)}
        recorded = f[EPISODE_SHA][:] if EPISODE_SHA in f else None
        attrs = dict(f.attrs)
    _check_layout(path, raw["pixels"], raw["action"], ep_len, ep_offset)
    verify_checksums(path, raw, ep_offset, ep_len, recorded)
    check_values(path, raw["action"], {c: raw[c] for c in raw if c not in ("pixels", "action")},
                 ep_offset, ep_len, attrs.get("action_low"), attrs.get("action_high"))
    return {"path": path, "ep_len": ep_len, "ep_offset": ep_offset, "attrs": attrs, "pixels": raw["pixels"],
            "action": raw["action"].astype(np.float32),
            "states": {c: raw[c].astype(np.float32) for c in state_columns if c in raw}}


def _check_same_kind(parts: list[dict]) -> None:
    """Several files train one model only if they hold the same task, look, image size and action size."""
    first = parts[0]
    for part in parts[1:]:
        for what, get in (("task", lambda p: str(p["attrs"].get("env", ""))),
                          ("look", lambda p: str(p["attrs"].get("look", ""))),
                          ("image shape", lambda p: tuple(p["pixels"].shape[1:])),
                          ("action size", lambda p: p["action"].shape[1])):
            if get(part) != get(first):
                raise UserInputError(f"{part['path']} and {first['path']} differ in {what} ({get(part)!r} vs "
                                     f"{get(first)!r}); train on files collected on the same task and look")


def _joined_attrs(attrs_list: list[dict]) -> dict:
    """The collection attributes of several files: the first file's, with seed and policy listing every file's."""
    attrs = dict(attrs_list[0])
    for key in ("seed", "policy"):
        values = [str(a[key]) for a in attrs_list if key in a]
        if len(attrs_list) > 1 and values:
            attrs[key] = ",".join(dict.fromkeys(values))
    return attrs


def _concat_release(parts: list[dict], key: str) -> np.ndarray:
    """Concatenates one column of every part into one preallocated array, dropping each part's copy as it goes
    (peak memory: the whole plus one file, not twice the whole)."""
    if len(parts) == 1:
        return parts[0].pop(key)
    total = sum(len(part[key]) for part in parts)
    out = np.empty((total, *parts[0][key].shape[1:]), parts[0][key].dtype)
    row = 0
    for part in parts:
        block = part.pop(key)
        out[row: row + len(block)] = block
        row += len(block)
    return out


class TrajectoryDataset(torch.utils.data.Dataset):
    """Training windows: ``num_steps`` frames ``frameskip`` apart, with the action blocks between them.

    Window ``i`` starting at frame ``t`` of an episode holds frames ``t, t+fs, ..., t+(T-1)fs`` and, for each,
    the block of the ``fs`` raw actions that follow it, flattened to ``fs * A`` values and z-scored with the
    dataset statistics (the NaN action of an episode's last frame becomes 0 after scaling). Reading checks the
    per-episode checksums the collector wrote and refuses NaN or infinite actions and states anywhere else
    (``world_model.data.data_integrity``), naming the episode and step.

    Args:
        path: an HDF5 file in the layout above, or several (a list, or one string joined by ``os.pathsep``): their
            episodes are read back to back, each file checked as one; all must hold the same task, look, image
            size and action size.
        num_steps: frames per window (T); LeWM uses 4 (history 3 + 1 prediction).
        frameskip: env steps between frames (fs); LeWM uses 5.
        episodes: indices of the episodes to use (default: all).
        state_columns: extra per-frame columns returned with each window.
        action_stats: ``(mean, std)`` to use instead of this subset's own (e.g. a validation split uses the
            training statistics).

    Items: ``{"pixels": uint8 (T, H, W, 3), "action": float32 (T, fs*A), <state>: float32 (T, k)}``.
    """

    def __init__(self, path: str | os.PathLike | list, num_steps: int = 4, frameskip: int = 5,
                 episodes: list[int] | np.ndarray | None = None, state_columns: tuple[str, ...] = ("qpos",),
                 action_stats: tuple[np.ndarray, np.ndarray] | None = None):
        self.paths = data_files(path)
        self.path = self.paths[0] if len(self.paths) == 1 else Path(os.pathsep.join(map(str, self.paths)))
        self.num_steps, self.frameskip = int(num_steps), int(frameskip)
        parts = [_read_checked(p, state_columns) for p in self.paths]
        _check_same_kind(parts)
        self.attrs = _joined_attrs([part["attrs"] for part in parts])
        self.state_columns = tuple(c for c in state_columns if all(c in part["states"] for part in parts))
        self.ep_len = np.concatenate([part["ep_len"] for part in parts])
        starts = np.cumsum([0] + [len(part["action"]) for part in parts])[:-1]
        self.ep_offset = np.concatenate([part["ep_offset"] + s0 for part, s0 in zip(parts, starts)])
        self._pixels = _concat_release(parts, "pixels")
        self._action = _concat_release(parts, "action")
        self._states = {c: np.concatenate([part["states"][c] for part in parts]) for c in self.state_columns}
        self._select(np.arange(len(self.ep_len)) if episodes is None else episodes)
        if action_stats is None:
            action_stats = _action_stats(self._action, _episode_rows(self.ep_offset, self.ep_len, self.episodes))
        self.action_mean = np.asarray(action_stats[0], np.float32)
        self.action_std = np.asarray(action_stats[1], np.float32)

    def _select(self, episodes) -> None:
        """Uses only ``episodes``: every start frame whose window (frames and actions) fits in its episode."""
        self.episodes = np.asarray(episodes, dtype=np.int64)
        span = self.num_steps * self.frameskip
        starts = [self.ep_offset[e] + np.arange(max(0, self.ep_len[e] - span + 1)) for e in self.episodes]
        self._starts = np.concatenate(starts) if starts else np.zeros(0, np.int64)

    @property
    def image_size(self) -> int:
        return int(self._pixels.shape[1])

    @property
    def action_dim(self) -> int:
        return int(self._action.shape[1])

    def __len__(self) -> int:
        return len(self._starts)

    def fingerprint(self) -> dict:
        """What identifies the whole file's data (not the episode selection), as plain JSON values.

        ``path`` (resolved), ``frames``, ``episodes``, ``digest`` (SHA-256 of the episode index and every action,
        first 16 hex digits; pixels are left out for speed) and the collection ``attrs`` env/seed/policy/created.
        """
        digest = hashlib.sha256()
        for arr in (self.ep_len, self.ep_offset, self._action):
            digest.update(np.ascontiguousarray(arr).tobytes())
        attrs = {k: str(self.attrs[k]) for k in ("env", "seed", "policy", "created") if k in self.attrs}
        path = os.pathsep.join(str(p.resolve()) for p in self.paths)
        return {"path": path, "frames": int(len(self._pixels)), "episodes": int(len(self.ep_len)),
                "digest": digest.hexdigest()[:16], "attrs": attrs}

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        t0 = self._starts[index]
        frames = t0 + self.frameskip * np.arange(self.num_steps)
        actions = self._action[t0 : t0 + self.num_steps * self.frameskip]
        actions = np.nan_to_num((actions - self.action_mean) / self.action_std, nan=0.0)
        item = {
            "pixels": torch.from_numpy(self._pixels[frames]),
            "action": torch.from_numpy(actions.reshape(self.num_steps, -1).astype(np.float32)),
        }
        for col in self.state_columns:
            item[col] = torch.from_numpy(self._states[col][frames])
        return item

    def subset(self, episodes) -> "TrajectoryDataset":
        """A dataset over some episodes of the same file, sharing arrays and this dataset's action statistics."""
        other = object.__new__(TrajectoryDataset)
        other.__dict__.update(self.__dict__)
        other._select(episodes)
        return other

    def split(self, val_fraction: float = 0.1, seed: int = 0) -> tuple["TrajectoryDataset", "TrajectoryDataset"]:
        """Splits by episode into (train, val); both use the training episodes' action statistics."""
        order = np.random.default_rng(seed).permutation(self.episodes)
        n_val = max(1, int(round(len(order) * val_fraction))) if len(order) > 1 else 0
        val_eps, train_eps = np.sort(order[:n_val]), np.sort(order[n_val:])
        train = self.subset(train_eps)
        train.action_mean, train.action_std = _action_stats(
            self._action, _episode_rows(self.ep_offset, self.ep_len, train_eps))
        return train, train.subset(val_eps)

    def column(self, name: str) -> np.ndarray:
        """Every frame of the selected episodes in one state column (e.g. "qpos"), raw: (frames, k)."""
        return self._states[name][_episode_rows(self.ep_offset, self.ep_len, self.episodes)]

    def episode(self, index: int) -> dict[str, np.ndarray]:
        """All frames of one episode: raw (un-normalised) columns, each (ep_len, ...)."""
        rows = slice(self.ep_offset[index], self.ep_offset[index] + self.ep_len[index])
        out = {"pixels": self._pixels[rows], "action": self._action[rows]}
        out.update({c: self._states[c][rows] for c in self.state_columns})
        return out
