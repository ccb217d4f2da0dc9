"""The agent's memory of a batch of envs, each at its own point of its own episode.

Time is counted in *ticks*: the ``replan_steps`` env steps between two points where the agent may replan
(``replan_steps == frameskip`` by default, so a tick is one action block). Per env: the embeddings at its last
ticks, spaced so that the last ``history_size`` of them one block apart can be read at any tick, the normalised
actions executed between them, its last plan and whether that plan may warm-start the next, and the raw env actions
of the tick it is executing. Envs normally go in lockstep; after :meth:`EpisodeState.restart` of some, their ticks
start at other steps.
"""

from __future__ import annotations

import numpy as np
import torch


class EpisodeState:
    """Per-env episode state of ``n`` envs. Tensors live on ``device``; per-env counters are numpy arrays (N,).

    With ``k = frameskip // replan_steps`` ticks per block and ``L = (history_size - 1) * k + 1``:

    Attributes:
        z: (N, L, D) embeddings at the last L tick starts, right-aligned; None until the first :meth:`push`.
        a: (N, L-1, replan_steps * A) normalised actions executed between them, right-aligned.
        hist_len: (N,) valid tick entries per env (at most L); 0 at the start of an episode.
        plan: (N, H, A_block) each env's last plan, normalised; ``warm`` (N,) says whether it may warm-start the
            next plan, ``ticks_done`` (N,) how many of its ticks were executed.
        queue: (N, replan_steps, A) raw env actions of each env's current tick; ``queue_pos`` (N,) the next one
            (``replan_steps``: the tick is finished). ``last_chunk``: (N, replan_steps * A) that tick, normalised.
        target: (N, D) what each env's last plan aimed at (the goal or a waypoint); None until set.
    """

    def __init__(self, n: int, history_size: int, horizon: int, block_dim: int, frameskip: int, action_dim: int,
                 device: torch.device, replan_steps: int | None = None):
        replan_steps = frameskip if replan_steps is None else int(replan_steps)
        if replan_steps < 1 or frameskip % replan_steps:
            raise ValueError(f"replan_steps must divide the frameskip {frameskip}, got {replan_steps}")
        self.n, self.history_size, self.frameskip, self.device = n, history_size, frameskip, device
        self.replan_steps, self.ticks_per_block = replan_steps, frameskip // replan_steps
        self.length = (history_size - 1) * self.ticks_per_block + 1
        chunk = replan_steps * action_dim
        self.z: torch.Tensor | None = None
        self.a = torch.zeros(n, self.length - 1, chunk, device=device)
        self.hist_len = np.zeros(n, np.int64)
        self.plan = torch.zeros(n, horizon, block_dim, device=device)
        self.warm = np.zeros(n, bool)
        self.ticks_done = np.zeros(n, np.int64)
        self.queue = np.zeros((n, replan_steps, action_dim), np.float32)
        self.queue_pos = np.full(n, replan_steps, np.int64)
        self.last_chunk = torch.zeros(n, chunk, device=device)
        self.target: torch.Tensor | None = None

    def rows(self, indices) -> torch.Tensor:
        """Env indices (numpy ints) as a LongTensor on the state's device."""
        return torch.as_tensor(np.asarray(indices, dtype=np.int64), device=self.device)

    def due(self) -> np.ndarray:
        """Indices of the envs whose tick is finished (or never started)."""
        return np.flatnonzero(self.queue_pos >= self.replan_steps)

    def blocks_held(self, indices) -> np.ndarray:
        """(k,) history entries one block apart that envs ``indices`` hold now (1 to ``history_size``)."""
        return 1 + (self.hist_len[np.asarray(indices, dtype=np.int64)] - 1) // self.ticks_per_block

    def restart(self, indices) -> None:
        """New episodes for ``indices``: history, warm start and current tick dropped."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= self.n):
            raise ValueError(f"env indices must be in [0, {self.n}), got {idx.tolist()}")
        self.hist_len[idx], self.warm[idx], self.ticks_done[idx] = 0, False, 0
        self.queue_pos[idx] = self.replan_steps

    def keep(self, indices) -> None:
        """Keeps only the envs ``indices``, in that order."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        t = self.rows(idx)
        pick = lambda x: None if x is None else x.index_select(0, t.to(x.device))  # noqa: E731
        self.z, self.a, self.plan = pick(self.z), pick(self.a), pick(self.plan)
        self.last_chunk, self.target = pick(self.last_chunk), pick(self.target)
        self.queue, self.queue_pos = self.queue[idx], self.queue_pos[idx]
        self.hist_len, self.warm, self.ticks_done = self.hist_len[idx], self.warm[idx], self.ticks_done[idx]
        self.n = len(idx)

    def push(self, z: torch.Tensor, indices: np.ndarray) -> None:
        """Appends embeddings ``z`` (k, D) to the histories of envs ``indices`` (k,), and, for those past their
        first tick, the tick just executed; counts that tick as done."""
        if self.z is None:
            self.z = torch.zeros(self.n, self.length, z.shape[-1], device=self.device)
        going = indices[self.hist_len[indices] > 0]
        if going.size and self.length > 1:
            g = self.rows(going)
            self.a[g] = torch.cat([self.a[g, 1:], self.last_chunk[g, None]], 1)
        self.ticks_done[going] += 1
        t = self.rows(indices)
        self.z[t] = torch.cat([self.z[t, 1:], z[:, None]], 1)
        self.hist_len[indices] = np.minimum(self.hist_len[indices] + 1, self.length)

    def history(self, indices, th: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The last ``th`` history entries one block apart of envs ``indices``: embeddings (k, th, D) and the
        action blocks between them (k, th-1, A_block), or None when ``th`` is 1."""
        t, k = self.rows(indices), self.ticks_per_block
        start = self.length - 1 - (th - 1) * k
        z = self.z[t, start::k]
        if th == 1:
            return z, None
        a = self.a[t, start:]  # (k, (th-1) * ticks_per_block, chunk): ticks, grouped into blocks
        return z, a.reshape(len(t), th - 1, -1)

    def next_chunk(self, indices) -> torch.Tensor:
        """The normalised actions (k, replan_steps * A) that the plans of ``indices`` hold for their next tick."""
        t = self.rows(indices)
        steps = self.plan[t].reshape(len(t), -1, self.queue.shape[-1])  # (k, H * frameskip, A)
        at = self.rows(self.ticks_done[np.asarray(indices, dtype=np.int64)] * self.replan_steps)
        pick = at[:, None] + torch.arange(self.replan_steps, device=self.device)
        return steps.gather(1, pick[..., None].expand(-1, -1, steps.shape[-1])).reshape(len(t), -1)

    def set_target(self, indices, target: torch.Tensor) -> None:
        """Records what the plans of ``indices`` aim at: (k, D)."""
        if self.target is None:
            self.target = torch.zeros(self.n, target.shape[-1], device=self.device)
        self.target[self.rows(indices)] = target.to(self.target.dtype)
