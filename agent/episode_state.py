"""The agent's memory of a batch of envs, each at its own point of its own episode.

Per env: the embeddings at its last ``history_size`` action-block starts and the blocks executed between them, its
last plan and whether that plan may warm-start the next, and the raw env actions of the block it is executing.
Envs normally go in lockstep; after :meth:`EpisodeState.restart` of some, their blocks start at other steps.
"""

from __future__ import annotations

import numpy as np
import torch


class EpisodeState:
    """Per-env episode state of ``n`` envs. Tensors live on ``device``; per-env counters are numpy arrays (N,).

    Attributes:
        z: (N, S, D) embeddings at the last S block starts, right-aligned (S = ``history_size``); None until the
            first :meth:`push`.
        a: (N, S-1, A_block) normalised action blocks executed between them, right-aligned.
        hist_len: (N,) valid history entries per env; 0 at the start of an episode.
        plan: (N, H, A_block) each env's last plan, normalised; ``warm`` (N,) says whether it may warm-start the
            next plan, ``blocks_done`` (N,) how many of its blocks were executed.
        queue: (N, frameskip, A) raw env actions of each env's current block; ``queue_pos`` (N,) the next one
            (``frameskip``: the block is finished). ``last_block``: (N, A_block) that block, normalised.
        target: (N, D) what each env's last plan aimed at (the goal or a waypoint); None until set.
    """

    def __init__(self, n: int, history_size: int, horizon: int, block_dim: int, frameskip: int, action_dim: int,
                 device: torch.device):
        self.n, self.history_size, self.frameskip, self.device = n, history_size, frameskip, device
        self.z: torch.Tensor | None = None
        self.a = torch.zeros(n, history_size - 1, block_dim, device=device)
        self.hist_len = np.zeros(n, np.int64)
        self.plan = torch.zeros(n, horizon, block_dim, device=device)
        self.warm = np.zeros(n, bool)
        self.blocks_done = np.zeros(n, np.int64)
        self.queue = np.zeros((n, frameskip, action_dim), np.float32)
        self.queue_pos = np.full(n, frameskip, np.int64)
        self.last_block = torch.zeros(n, block_dim, device=device)
        self.target: torch.Tensor | None = None

    def rows(self, indices) -> torch.Tensor:
        """Env indices (numpy ints) as a LongTensor on the state's device."""
        return torch.as_tensor(np.asarray(indices, dtype=np.int64), device=self.device)

    def due(self) -> np.ndarray:
        """Indices of the envs whose action block is finished (or never started)."""
        return np.flatnonzero(self.queue_pos >= self.frameskip)

    def restart(self, indices) -> None:
        """New episodes for ``indices``: history, warm start and current block dropped."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= self.n):
            raise ValueError(f"env indices must be in [0, {self.n}), got {idx.tolist()}")
        self.hist_len[idx], self.warm[idx], self.blocks_done[idx] = 0, False, 0
        self.queue_pos[idx] = self.frameskip

    def keep(self, indices) -> None:
        """Keeps only the envs ``indices``, in that order."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        t = self.rows(idx)
        pick = lambda x: None if x is None else x.index_select(0, t.to(x.device))  # noqa: E731
        self.z, self.a, self.plan = pick(self.z), pick(self.a), pick(self.plan)
        self.last_block, self.target = pick(self.last_block), pick(self.target)
        self.queue, self.queue_pos = self.queue[idx], self.queue_pos[idx]
        self.hist_len, self.warm, self.blocks_done = self.hist_len[idx], self.warm[idx], self.blocks_done[idx]
        self.n = len(idx)

    def push(self, z: torch.Tensor, indices: np.ndarray) -> None:
        """Appends embeddings ``z`` (k, D) to the histories of envs ``indices`` (k,), and, for those past their
        first block, the block just executed; counts that block as done."""
        if self.z is None:
            self.z = torch.zeros(self.n, self.history_size, z.shape[-1], device=self.device)
        going = indices[self.hist_len[indices] > 0]
        if going.size and self.history_size > 1:
            g = self.rows(going)
            self.a[g] = torch.cat([self.a[g, 1:], self.last_block[g, None]], 1)
        self.blocks_done[going] += 1
        t = self.rows(indices)
        self.z[t] = torch.cat([self.z[t, 1:], z[:, None]], 1)
        self.hist_len[indices] = np.minimum(self.hist_len[indices] + 1, self.history_size)

    def history(self, indices, th: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The last ``th`` history entries of envs ``indices``: embeddings (k, th, D) and the blocks between them
        (k, th-1, A_block), or None when ``th`` is 1."""
        t = self.rows(indices)
        start = self.history_size - th
        return self.z[t, start:], (self.a[t, start:] if th > 1 else None)

    def set_target(self, indices, target: torch.Tensor) -> None:
        """Records what the plans of ``indices`` aim at: (k, D)."""
        if self.target is None:
            self.target = torch.zeros(self.n, target.shape[-1], device=self.device)
        self.target[self.rows(indices)] = target.to(self.target.dtype)
