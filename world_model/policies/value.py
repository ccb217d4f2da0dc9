"""A learned goal-conditioned value in the latent space: how many action blocks from here to the goal.

The planners' default objective, the Euclidean distance between predicted embeddings and the goal's, is
short-sighted: it says how *alike* two frames are, not how far apart they are in moves (a reacher arm one turn
past its goal pose looks far; a cube lifted 2 cm above its goal looks near). ``GoalValue`` answers the second
question. It is an MLP ``d(z, g) >= 0`` over the frozen world model's embeddings, trained offline on the model's
own dataset with hindsight goals (``world_model.policies.value_data``), in action blocks (``frameskip`` env steps each).
Two estimators train it (``world_model.policies.train_value``): the lower expectile of the temporal distance the data
show between two frames (``mc``), and a one-block Bellman backup with a lower expectile (``td``, the distance
form of GCIVL's value); both read as "the shortest way the data know".

Planning with it (``agent.latent_cost``, cost ``value``): a candidate plan costs ``min_h (h + d(z_h, g))`` over
its predicted embeddings ``z_1 .. z_H``: the blocks it takes to pass within reach of the goal, then the value's
estimate of the rest.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from world_model.policies.mlp_file import load_mlp, save_mlp

FILE_NAME = "value.safetensors"
ESTIMATORS = ("mc", "td")


class GoalValue(nn.Module):
    """MLP ``[z, g, g - z] -> d``: predicted action blocks from embedding ``z`` to goal embedding ``g``.

    Args:
        embed_dim: D, the world model's latent size.
        hidden, depth: width and number of the hidden layers.
        max_blocks: the largest distance it predicts (blocks; farther goals read as this far).
        estimator: how it was trained (``ESTIMATORS``; recorded, for the reader).
    """

    def __init__(self, embed_dim: int, hidden: int = 256, depth: int = 3, max_blocks: float = 40.0,
                 estimator: str = "td"):
        super().__init__()
        if min(embed_dim, hidden, depth) < 1 or not max_blocks > 0:
            raise ValueError("embed_dim, hidden and depth must be >= 1 and max_blocks positive")
        if estimator not in ESTIMATORS:
            raise ValueError(f"estimator must be one of {', '.join(ESTIMATORS)}, got {estimator!r}")
        self.dims = dict(embed_dim=embed_dim, hidden=hidden, depth=depth, max_blocks=float(max_blocks),
                         estimator=estimator)
        layers, width = [], 3 * embed_dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.LayerNorm(hidden), nn.GELU()]
            width = hidden
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)
        self.max_blocks = float(max_blocks)

    def forward(self, z: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        """z (..., D), goal (..., D) (broadcast) -> (...) blocks in [0, max_blocks]."""
        z, goal = torch.broadcast_tensors(z, goal)
        out = self.net(torch.cat([z, goal, goal - z], dim=-1)).squeeze(-1)
        return self.max_blocks * torch.sigmoid(out)

    def save(self, folder, info: dict | None = None, half: bool = False, model_sha256: str | None = None) -> Path:
        """Writes ``folder/value.safetensors`` (float16 weights when ``half``)."""
        return save_mlp(self, Path(folder) / FILE_NAME, self.dims, info, half, model_sha256)

    @classmethod
    def load(cls, path, map_location="cpu") -> "GoalValue":
        """Loads a file written by :meth:`save` (or the folder holding it), in eval mode.

        Raises:
            FileNotFoundError: no such file.
            UserInputError: the file is not a value, or its weights are damaged or not finite.
        """
        return load_mlp(cls, path, FILE_NAME, "goal value", "lewm-train-value", map_location)
