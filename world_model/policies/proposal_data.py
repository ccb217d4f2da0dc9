"""Training samples for the proposal policy: a frozen world model's embeddings of a dataset, hindsight goals.

Every frame ``t`` of an episode with at least one full action block after it is a start. A sample draws a goal
``k`` blocks ahead (1 <= k <= ``max_goal_blocks``, within the episode): the frame at ``t + k * frameskip``. Its
target is the plan the data executed, the H action blocks after ``t``; only the first ``k`` are supervised (after
the goal the data's actions say nothing about reaching it). The data policy's actions from ``t`` did reach the
goal frame, so this is goal-conditioned behaviour cloning with hindsight relabelling.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from world_model.data.dataset import REQUIRED_COLUMNS, open_dataset
from world_model.model.frame_encoding import encode_frames


@dataclass
class EncodedEpisodes:
    """A dataset's frames as embeddings. z: (N, D) float32; blocks: (N, fs*A) normalised action block that
    starts at each frame (rows whose block leaves the episode are never used); ep_offset, ep_len: (E,)."""

    z: torch.Tensor
    blocks: torch.Tensor
    ep_offset: np.ndarray
    ep_len: np.ndarray
    frameskip: int

    def episodes(self, idx: np.ndarray) -> "EncodedEpisodes":
        return EncodedEpisodes(self.z, self.blocks, self.ep_offset[idx], self.ep_len[idx], self.frameskip)

    @staticmethod
    def concat(parts: list["EncodedEpisodes"]) -> "EncodedEpisodes":
        """One set of episodes from several (e.g. the shards of a collection plan); the same frameskip."""
        if len({p.frameskip for p in parts}) != 1:
            raise ValueError("episodes of different frameskips cannot be joined")
        starts = np.cumsum([0] + [len(p.z) for p in parts[:-1]])
        return EncodedEpisodes(torch.cat([p.z for p in parts]), torch.cat([p.blocks for p in parts]),
                               np.concatenate([p.ep_offset + s for p, s in zip(parts, starts)]),
                               np.concatenate([p.ep_len for p in parts]), parts[0].frameskip)


def encode_datasets(model, paths, progress: bool = True) -> EncodedEpisodes:
    """``encode_dataset`` of every file in ``paths``, joined into one set of episodes (``EncodedEpisodes.concat``)."""
    return EncodedEpisodes.concat([encode_dataset(model, path, progress=progress) for path in paths])


def encode_dataset(model, path, batch: int = 512, progress: bool = True) -> EncodedEpisodes:
    """Embeds every frame of an HDF5 trajectory dataset with ``model``'s encoder (no autograd).

    The file is checked first (:func:`check_model_data`).

    Raises:
        UserInputError: the file is not a trajectory dataset, fails a check, was collected on another task, or its
            frames or actions do not fit the model.
    """
    fs = model.cfg.frameskip
    check_model_data(model, path)
    with open_dataset(path, REQUIRED_COLUMNS) as f:
        pixels, ep_len, ep_offset = f["pixels"], f["ep_len"][:].astype(np.int64), f["ep_offset"][:].astype(np.int64)
        action = np.nan_to_num(f["action"][:].astype(np.float32))  # only each episode's last action is NaN
        z = encode_frames(model, pixels, batch=batch, progress=progress)
    blocks = model.normalize_actions(torch.from_numpy(action_blocks(action, fs))).float()
    return EncodedEpisodes(z, blocks, ep_offset, ep_len, fs)


def check_model_data(model, path) -> None:
    """Refuses a dataset ``model`` cannot use: one that fails ``world_model.data.check_data.check_file``
    (per-episode checksums, no NaN or infinite action inside an episode, no action far outside its box), was
    collected on another task, or holds frames or actions of other sizes than the model's.

    Raises:
        UserInputError: naming what is wrong.
    """
    from common.cli_errors import UserInputError
    from world_model.data.check_data import check_file
    from world_model.training.run_data import task_key

    cfg = model.cfg
    data_task = check_file(path)["env"]
    if cfg.task and data_task and task_key(cfg.task) != task_key(data_task):
        raise UserInputError(f"{path} was collected on task {data_task!r} but the model was trained for "
                             f"{cfg.task!r}; use the model's own data")
    with open_dataset(path, REQUIRED_COLUMNS) as f:
        pixels, actions = f["pixels"], f["action"]
        if pixels.shape[1:] != (cfg.image_size, cfg.image_size, 3) or actions.shape[1] != cfg.action_dim:
            raise UserInputError(f"{path} holds {pixels.shape[1]} px frames and {actions.shape[1]}-D actions; the "
                                 f"model takes {cfg.image_size} px and {cfg.action_dim}-D actions")


def split_episodes(data: EncodedEpisodes, val_fraction: float, seed: int):
    """(train, validation, number of validation episodes): whole episodes drawn at random; with one episode,
    validation is the training episode itself."""
    order = np.random.default_rng(seed).permutation(len(data.ep_len))
    n_val = max(1, int(round(val_fraction * len(order)))) if len(order) > 1 else 0
    val_eps, train_eps = order[:n_val], order[n_val:]
    return data.episodes(train_eps), data.episodes(val_eps if n_val else train_eps), n_val


def action_blocks(action: np.ndarray, frameskip: int) -> np.ndarray:
    """(N, A) per-frame actions -> (N, frameskip * A): row r holds actions r .. r + frameskip - 1 (zero-padded
    past the end; rows whose block crosses an episode's end are never used as targets)."""
    n = len(action)
    padded = np.concatenate([action, np.zeros((frameskip, action.shape[1]), action.dtype)])
    return np.stack([padded[i:i + n] for i in range(frameskip)], axis=1).reshape(n, -1)


class HindsightSampler:
    """Random batches of (z, z_prev, has_prev, goal, target plan, mask) from :class:`EncodedEpisodes`.

    Args:
        data: the encoded episodes.
        horizon: H, blocks per target plan.
        max_goal_blocks: goals are 1..this many blocks ahead.
        seed: numpy seed of the draws.
    """

    def __init__(self, data: EncodedEpisodes, horizon: int, max_goal_blocks: int = 8, seed: int = 0):
        fs = data.frameskip
        starts, room = [], []
        for off, n in zip(data.ep_offset, data.ep_len):
            t = np.arange(n)
            blocks_left = (n - 1 - t) // fs  # full blocks whose end frame is still in the episode
            keep = blocks_left >= 1
            starts.append(off + t[keep])
            room.append(np.stack([t[keep], blocks_left[keep]], 1))
        if not starts or sum(len(s) for s in starts) == 0:
            raise ValueError(f"no episode is longer than one action block ({fs} steps)")
        self.rows = np.concatenate(starts)
        self.t_in_episode, self.blocks_left = np.concatenate(room).T
        self.data, self.horizon, self.max_goal_blocks = data, horizon, max_goal_blocks
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.rows)

    def sample(self, batch: int) -> dict[str, torch.Tensor]:
        """z, z_prev, goal (B, D); has_prev (B,) bool; plan (B, H, A_block); mask (B, H) bool; k (B,) float: the
        blocks from each start to its goal (what the data took to reach it)."""
        fs, h = self.data.frameskip, self.horizon
        i = self.rng.integers(0, len(self.rows), batch)
        rows, t, left = self.rows[i], self.t_in_episode[i], self.blocks_left[i]
        k = self.rng.integers(1, np.minimum(left, self.max_goal_blocks) + 1)  # goal blocks ahead
        has_prev = t >= fs
        j = np.arange(h)
        mask = j[None] < np.minimum(k, h)[:, None]
        block_rows = np.where(mask, rows[:, None] + fs * j[None], rows[:, None])
        z = self.data.z
        return {"z": z[rows], "z_prev": z[np.where(has_prev, rows - fs, rows)], "has_prev": torch.from_numpy(has_prev),
                "goal": z[rows + fs * k], "plan": self.data.blocks[block_rows], "mask": torch.from_numpy(mask),
                "k": torch.from_numpy(k).float()}


class SubgoalSampler(HindsightSampler):
    """Random batches of (z, goal, subgoal) for ``world_model.policies.subgoal``: a goal ``k`` blocks ahead (1 <= k <=
    ``max_goal_blocks``, within the episode) and, as target, the frame ``min(k, subgoal_blocks)`` blocks ahead:
    where the data were on their way to that goal (the goal itself when it is nearer)."""

    def __init__(self, data: EncodedEpisodes, subgoal_blocks: int, max_goal_blocks: int = 24, seed: int = 0):
        super().__init__(data, 1, max_goal_blocks, seed)
        self.subgoal_blocks = subgoal_blocks

    def sample(self, batch: int) -> dict[str, torch.Tensor]:
        """z, goal, subgoal: (B, D) each."""
        fs = self.data.frameskip
        i = self.rng.integers(0, len(self.rows), batch)
        rows, left = self.rows[i], self.blocks_left[i]
        k = self.rng.integers(1, np.minimum(left, self.max_goal_blocks) + 1)
        z = self.data.z
        return {"z": z[rows], "goal": z[rows + fs * k], "subgoal": z[rows + fs * np.minimum(k, self.subgoal_blocks)]}
