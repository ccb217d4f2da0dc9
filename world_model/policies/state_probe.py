"""A finer reading of the state from a frozen embedding: an MLP beside the model's linear state readout.

A model trained with ``state_lambda > 0`` holds its state linearly (``world_model.model.state_head``), but a linear
map reads Push-T's block only to about 6 px (median, one frame), while gym-pusht's 95 % coverage asks for about
2 px. An MLP fitted afterwards on the frozen embeddings of the model's own data reads it to about 2 px
(``docs/value.md``). ``StateProbe`` predicts the state head's own targets, in its units (z-scored, angles as cos
and sin), so the readout costs (``agent.latent_cost``) use either one alike, and count the same entries
(``success_qpos``). Like the state head it is trained on recorded states and used on pixels alone: planning reads
it off predicted embeddings.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from world_model.policies.mlp_file import load_mlp, save_mlp

FILE_NAME = "state_probe.safetensors"


class StateProbe(nn.Module):
    """MLP ``z -> targets``: embeddings (..., D) to the state head's K targets (..., K).

    Args:
        embed_dim: D, the world model's latent size.
        targets: K, the state head's number of targets.
        hidden, depth: width and number of the hidden layers.
    """

    def __init__(self, embed_dim: int, targets: int, hidden: int = 512, depth: int = 2):
        super().__init__()
        if min(embed_dim, targets, hidden, depth) < 1:
            raise ValueError("embed_dim, targets, hidden and depth must be >= 1")
        self.dims = dict(embed_dim=embed_dim, targets=targets, hidden=hidden, depth=depth)
        # The embeddings' own scale, set from the training data (fit_input_scale), kept in the file.
        self.register_buffer("z_mean", torch.zeros(embed_dim))
        self.register_buffer("z_std", torch.ones(embed_dim))
        layers, width = [], embed_dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.GELU()]
            width = hidden
        layers.append(nn.Linear(width, targets))
        self.net = nn.Sequential(*layers)

    def fit_input_scale(self, z: torch.Tensor) -> None:
        """Sets the input normalisation from training embeddings (N, D)."""
        self.z_mean.copy_(z.mean(0))
        self.z_std.copy_(z.std(0).clamp_min(1e-6))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """(..., D) -> (..., K) targets in the state head's units, in the probe's dtype."""
        return self.net((z - self.z_mean) / self.z_std)

    def save(self, folder, info: dict | None = None, half: bool = False, model_sha256: str | None = None) -> Path:
        """Writes ``folder/state_probe.safetensors``."""
        return save_mlp(self, Path(folder) / FILE_NAME, self.dims, info, half, model_sha256)

    @classmethod
    def load(cls, path, map_location="cpu") -> "StateProbe":
        """Loads a file written by :meth:`save` (or the folder holding it), in eval mode.

        Raises:
            FileNotFoundError: no such file.
            UserInputError: the file is not a state probe, or its weights are damaged or not finite.
        """
        return load_mlp(cls, path, FILE_NAME, "state probe", "lewm-train-probe", map_location)
