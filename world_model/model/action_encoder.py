"""Action-block encoder (the reference ``Embedder``): Conv1d(k=1) to a smoothed dim, then Linear-SiLU-Linear."""
from __future__ import annotations

import torch
from torch import nn


class ActionEncoder(nn.Module):
    """Embeds normalised action blocks, one per time step.

    Args:
        block_dim: entries of one action block, ``frameskip * action_dim``.
        smoothed_dim: width after the k=1 convolution (10 in the paper).
        emb_dim: output width (the predictor's width).
        mlp_scale: hidden width of the MLP is ``mlp_scale * emb_dim``.
    """

    def __init__(self, block_dim: int, smoothed_dim: int, emb_dim: int, mlp_scale: int = 4):
        super().__init__()
        self.block_dim = block_dim
        self.patch_embed = nn.Conv1d(block_dim, smoothed_dim, kernel_size=1)
        self.embed = nn.Sequential(nn.Linear(smoothed_dim, mlp_scale * emb_dim), nn.SiLU(),
                                   nn.Linear(mlp_scale * emb_dim, emb_dim))

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        """a: (B, T, block_dim) z-scored action blocks -> (B, T, emb_dim)."""
        x = self.patch_embed(a.transpose(1, 2)).transpose(1, 2)
        return self.embed(x)
