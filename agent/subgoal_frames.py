"""The data frames a value-guided high level picks its subgoals from (``agent.value_subgoals``).

``subgoal_frames.safetensors`` in a checkpoint folder holds (M, D) embeddings of frames of the model's training
data, every ``every``-th frame of whole episodes, in float16, with the digest of the model that embedded them
(``model_sha256``) like every companion file. ``lewm-subgoal-frames`` builds it; ``--subgoals value`` uses it
(or, in a checkpoint without one, the nodes of its waypoint file).

The file is written and read as the small MLP files are (``world_model.policies.mlp_file``): its declared sizes
are checked against the tensor it holds before anything is built, and non-finite embeddings are refused.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from world_model.policies.mlp_file import load_mlp, save_mlp

FILE_NAME = "subgoal_frames.safetensors"
HOW_TO_BUILD = "lewm-subgoal-frames"


class SubgoalFrames(nn.Module):
    """(M, D) embeddings of data frames (``frames``, a buffer: it trains nothing) and the settings the high level
    uses them with (``agent.value_subgoals.ValueSubgoals``), as a waypoint file keeps its radii.

    Args:
        count: M, the number of frames.
        embed_dim: D, the world model's latent size.
        reach: blocks, by the goal value, within which a frame may be the next subgoal.
        goal_blocks: blocks, by the goal value, under which the agent aims at the goal itself.
        far: blocks, by the goal value when a goal is first seen, over which it gets subgoals (None: every goal).
    """

    def __init__(self, count: int, embed_dim: int, reach: float = 3.0, goal_blocks: float = 3.0,
                 far: float | None = None):
        super().__init__()
        if min(count, embed_dim) < 1:
            raise ValueError(f"count and embed_dim must be >= 1, got {count} and {embed_dim}")
        if not reach > 0 or not goal_blocks >= 0:
            raise ValueError(f"reach must be positive and goal_blocks at least 0, got {reach} and {goal_blocks}")
        if far is not None and not far >= 0:
            raise ValueError(f"far must be at least 0 (or None), got {far}")
        self.dims = dict(count=count, embed_dim=embed_dim, reach=float(reach), goal_blocks=float(goal_blocks),
                         far=None if far is None else float(far))
        self.register_buffer("frames", torch.zeros(count, embed_dim))

    @classmethod
    def of(cls, embeddings: torch.Tensor, **settings) -> "SubgoalFrames":
        """Frames holding ``embeddings`` (M, D), with ``settings`` (``reach``, ``goal_blocks``, ``far``)."""
        frames = cls(*embeddings.shape, **settings)
        frames.frames.copy_(embeddings)
        return frames

    def high_level(self, value):
        """The ``ValueSubgoals`` over these frames, ranked by ``value``, with the file's settings."""
        from agent.value_subgoals import ValueSubgoals

        return ValueSubgoals(value, self.frames, reach=self.dims["reach"], goal_blocks=self.dims["goal_blocks"],
                             far=self.dims.get("far"))

    def save(self, folder_or_file, info: dict | None = None, model_sha256: str | None = None) -> Path:
        """Writes the frames (float16) to ``folder/subgoal_frames.safetensors``, or to the ``.safetensors`` file
        named."""
        path = Path(folder_or_file)
        path = path if path.suffix == ".safetensors" else path / FILE_NAME
        return save_mlp(self, path, self.dims, info, half=True, model_sha256=model_sha256)

    @classmethod
    def load(cls, path, map_location="cpu") -> "SubgoalFrames":
        """Loads a file written by :meth:`save` (or the folder holding it).

        Raises:
            FileNotFoundError: no such file.
            UserInputError: the file is not a frames file, or its embeddings are damaged or not finite.
        """
        return load_mlp(cls, path, FILE_NAME, "subgoal frames file", HOW_TO_BUILD, map_location)


def frame_rows(ep_offset: np.ndarray, ep_len: np.ndarray, every: int, max_frames: int, seed: int = 0) -> np.ndarray:
    """Increasing row indices: every ``every``-th frame of each episode (from its first), of whole episodes drawn
    in a random order until ``max_frames`` rows are taken."""
    if every < 1 or max_frames < 1:
        raise ValueError(f"every and max_frames must be >= 1, got {every} and {max_frames}")
    rows, taken = [], 0
    for e in np.random.default_rng(seed).permutation(len(ep_len)):
        take = np.arange(ep_offset[e], ep_offset[e] + ep_len[e], every)[: max_frames - taken]
        rows.append(take)
        taken += len(take)
        if taken >= max_frames:
            break
    return np.sort(np.concatenate(rows)) if rows else np.zeros(0, np.int64)


def build_subgoal_frames(model, paths, every: int = 5, max_frames: int = 50_000, progress: bool = True,
                         seed: int = 0, **settings) -> tuple[SubgoalFrames, dict]:
    """Embeds every ``every``-th frame of the datasets ``paths`` (whole episodes, shared out evenly over the
    files, ``max_frames`` in all) with ``model``'s encoder; each file is checked and must be the model's task
    (``world_model.policies.proposal_data.encode_dataset``'s checks).

    ``settings``: ``reach``, ``goal_blocks`` and ``far`` (see :class:`SubgoalFrames`).

    Returns:
        The frames and a summary (files, frames per file, every).
    """
    from world_model.data.dataset import REQUIRED_COLUMNS, open_dataset
    from world_model.model.frame_encoding import encode_frames
    from world_model.policies.proposal_data import check_model_data

    paths = [str(p) for p in paths]
    chunks, per_file = [], []
    for i, path in enumerate(paths):
        check_model_data(model, path)
        share = max_frames // len(paths) + (i < max_frames % len(paths))
        with open_dataset(path, REQUIRED_COLUMNS) as f:
            rows = frame_rows(f["ep_offset"][:].astype(np.int64), f["ep_len"][:].astype(np.int64), every, share,
                              seed)
            chunks.append(encode_frames(model, f["pixels"], rows, progress=progress, desc=f"embedding {path}"))
        per_file.append(len(rows))
    frames = SubgoalFrames.of(torch.cat(chunks), **settings)
    return frames, {"data": paths, "frames_per_file": per_file, "every": every}
