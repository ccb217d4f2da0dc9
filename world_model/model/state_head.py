"""An optional state readout: a training-only term that makes the embedding hold the collected state linearly.

Where the prediction loss and a pixel decoder leave a part of the scene out of the embedding (Push-T's block angle:
``experiments/pusht/pusht.md``), ``state_lambda > 0`` adds the error of a linear map from each frame's embedding
to that frame's state, as the collector recorded it (``qpos``; angles as cos and sin, every target z-scored with the
training split's statistics). The state is used in training only: planning still sees pixels alone. Off by default
(LeWM trains from pixels alone); a checkpoint trained with it says so in its config (``state_lambda``).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from common.cli_errors import UserInputError


def probe_targets(qpos: np.ndarray, angle_qpos) -> tuple[np.ndarray, list]:
    """qpos (N, nq) -> targets (N, K) and their names; angles become cos and sin.

    ``angle_qpos``: indices of the angle entries; None means all of them, ``[]`` none (raw positions).
    """
    nq = qpos.shape[1]
    angles = list(range(nq)) if angle_qpos is None else [int(i) for i in angle_qpos]
    bad = [i for i in angles if not 0 <= i < nq]
    if bad:
        raise ValueError(f"angle_qpos {angles} names entries outside qpos, which has {nq} entries")
    cols, names = [], []
    for i in range(nq):
        if i in angles:
            cols += [np.cos(qpos[:, i]), np.sin(qpos[:, i])]
            names += [f"cos_qpos{i}", f"sin_qpos{i}"]
        else:
            cols.append(qpos[:, i])
            names.append(f"qpos{i}")
    return np.stack(cols, axis=1).astype(np.float64), names


def state_statistics(qpos: np.ndarray, angle_qpos) -> tuple[list, list]:
    """Per-target mean and std (std floored at 1e-6) of ``probe_targets(qpos)``; qpos (N, nq) of the training split."""
    targets, _ = probe_targets(np.asarray(qpos, np.float64), angle_qpos)
    return targets.mean(0).tolist(), np.maximum(targets.std(0), 1e-6).tolist()


class StateHead(nn.Module):
    """(N, D) embeddings -> (N, K) z-scored state targets, one linear map.

    Args:
        embed_dim: D.
        mean, std: (K,) target statistics (``state_statistics``), kept as buffers.
        angle_qpos: the qpos indices that are angles (their targets are cos and sin).
    """

    def __init__(self, embed_dim: int, mean: list, std: list, angle_qpos):
        super().__init__()
        self.angle_qpos = angle_qpos
        self.readout = nn.Linear(embed_dim, len(mean))
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32))

    def targets(self, qpos: torch.Tensor) -> torch.Tensor:
        """(N, nq) raw qpos -> (N, K) z-scored targets."""
        raw, _ = probe_targets(qpos.detach().cpu().double().numpy(), self.angle_qpos)
        raw = torch.as_tensor(raw, dtype=torch.float32, device=self.mean.device)
        if raw.shape[1] != self.mean.shape[0]:
            raise UserInputError(f"the state readout was built for {self.mean.shape[0]} targets but this data's qpos "
                                 f"gives {raw.shape[1]}; train on the data the run was started on")
        return (raw - self.mean) / self.std

    def target_qpos(self) -> list[int]:
        """The qpos index each of the K targets reads (an angle's cos and sin both name the angle), in target order."""
        angles = set(range(10**6) if self.angle_qpos is None else (int(i) for i in self.angle_qpos))
        index, qpos = [], 0
        while len(index) < self.mean.shape[0]:
            index += [qpos] * (2 if qpos in angles else 1)
            qpos += 1
        return index

    def affine(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The readout as detached float32 (K, D) weight and (K,) bias: targets = z @ weight.T + bias."""
        return self.readout.weight.detach().float(), self.readout.bias.detach().float()

    def loss(self, z: torch.Tensor, qpos: torch.Tensor, fixed: bool = False) -> torch.Tensor:
        """Mean squared error of the readout; z (N, D) embeddings of the frames whose state is qpos (N, nq).
        ``fixed``: no gradient reaches the readout (for predicted embeddings: the map stays the encoder's)."""
        if fixed:
            out = nn.functional.linear(z, self.readout.weight.detach(), self.readout.bias.detach())
        else:
            out = self.readout(z)
        return (out.float() - self.targets(qpos)).pow(2).mean()
