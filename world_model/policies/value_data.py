"""Training samples for the goal value (``world_model.policies.value``): hindsight goals over a frozen model's
embeddings.

Distances are counted in action blocks (``frameskip`` frames). A start is any frame with at least one full block
after it in its episode. Goals come from three sources, as in goal-conditioned offline RL (HIQL, GCIVL):

- ``future``: the same episode ``k`` blocks ahead, ``k`` uniform in ``0 .. min(blocks left, max_goal_blocks)``;
  the data reached it in ``k`` blocks, so the distance is at most ``k``;
- ``random``: any frame of any episode, its distance unknown (usually far);
- for the ``td`` estimator each sample also carries the next block's embedding (``z_next``).
"""
from __future__ import annotations

import numpy as np
import torch

from world_model.policies.proposal_data import EncodedEpisodes


class ValueSampler:
    """Random batches of (z, z_next, goal, k, same_episode) from :class:`EncodedEpisodes`.

    Args:
        data: the encoded episodes.
        max_goal_blocks: ``future`` goals are at most this many blocks ahead.
        random_fraction: share of each batch whose goal is a random frame of the data.
        seed: numpy seed of the draws.
    """

    def __init__(self, data: EncodedEpisodes, max_goal_blocks: int = 40, random_fraction: float = 0.3,
                 seed: int = 0):
        if not 0.0 <= random_fraction < 1.0:
            raise ValueError(f"random_fraction must be in [0, 1), got {random_fraction}")
        fs = data.frameskip
        rows, left = [], []
        for off, n in zip(data.ep_offset, data.ep_len):
            t = np.arange(n)
            blocks_left = (n - 1 - t) // fs
            keep = blocks_left >= 1
            rows.append(off + t[keep])
            left.append(blocks_left[keep])
        if not rows or sum(len(r) for r in rows) == 0:
            raise ValueError(f"no episode is longer than one action block ({fs} steps)")
        self.rows, self.blocks_left = np.concatenate(rows), np.concatenate(left)
        self.data, self.max_goal_blocks, self.random_fraction = data, max_goal_blocks, random_fraction
        self.all_rows = np.concatenate([off + np.arange(n) for off, n in zip(data.ep_offset, data.ep_len)])
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.rows)

    def sample(self, batch: int) -> dict[str, torch.Tensor]:
        """z, z_next, goal (B, D); k (B,) float blocks to the goal along the episode (NaN for random goals);
        same (B,) bool: the goal is from the same episode, ahead."""
        fs = self.data.frameskip
        i = self.rng.integers(0, len(self.rows), batch)
        rows, left = self.rows[i], self.blocks_left[i]
        k = self.rng.integers(0, np.minimum(left, self.max_goal_blocks) + 1)
        goal_rows = rows + fs * k
        random_goal = self.rng.random(batch) < self.random_fraction
        goal_rows = np.where(random_goal, self.rng.choice(self.all_rows, batch), goal_rows)
        z = self.data.z
        return {"z": z[rows], "z_next": z[rows + fs], "goal": z[goal_rows],
                "k": torch.from_numpy(np.where(random_goal, np.nan, k).astype(np.float32)),
                "same": torch.from_numpy(~random_goal)}

    def ladder(self, starts: int, seed: int = 0) -> dict[str, torch.Tensor]:
        """For the rank diagnostic: ``starts`` random starts, each with every goal 1 .. max_goal_blocks blocks
        ahead that its episode holds. z, goal (M, D); k (M,) blocks; start (M,) which start each row belongs to."""
        rng = np.random.default_rng(seed)
        fs = self.data.frameskip
        pick = rng.choice(len(self.rows), min(starts, len(self.rows)), replace=False)
        zs, goals, ks, ids = [], [], [], []
        for n, i in enumerate(pick):
            k = np.arange(1, min(self.blocks_left[i], self.max_goal_blocks) + 1)
            zs.append(np.full(len(k), self.rows[i]))
            goals.append(self.rows[i] + fs * k)
            ks.append(k)
            ids.append(np.full(len(k), n))
        rows, goal_rows = np.concatenate(zs), np.concatenate(goals)
        return {"z": self.data.z[rows], "goal": self.data.z[goal_rows],
                "k": torch.from_numpy(np.concatenate(ks).astype(np.float32)),
                "start": torch.from_numpy(np.concatenate(ids))}
