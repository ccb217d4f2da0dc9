"""The BatchNorm projector MLP: Linear -> BatchNorm1d -> GELU -> Linear (paper: 192-2048-192)."""
from __future__ import annotations

import torch
from torch import nn


class Projector(nn.Module):
    """Maps features to the latent space; used after the encoder and (as ``pred_proj``) after the predictor.

    The BatchNorm matters: the paper reports that the ViT's final LayerNorm alone keeps SIGReg from being
    optimised effectively.

    Args:
        in_dim: input feature size.
        hidden_dim: hidden width (2048 in the paper).
        out_dim: output (latent) size.
    """

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.BatchNorm1d(hidden_dim), nn.GELU(),
                                 nn.Linear(hidden_dim, out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (..., in_dim) -> (..., out_dim); leading dims are flattened for BatchNorm."""
        lead = x.shape[:-1]
        return self.net(x.reshape(-1, x.shape[-1])).reshape(*lead, -1)
