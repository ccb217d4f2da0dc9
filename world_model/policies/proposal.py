"""A goal-conditioned policy in latent space that proposes plans to the planner (amortised planning).

Sampling planners spend most of their budget finding the neighbourhood of a good plan. This small MLP, trained
on the world model's own dataset with hindsight goals (``world_model.policies.proposal_data``), maps (current embedding,
its change over the last action block, goal embedding) to a plan of H normalised action blocks in one forward
pass. The agent starts an episode's first plan from it and adds it as a candidate to every iteration of every
replan, so a few samples and iterations refine it instead of searching from scratch. A checkpoint folder
without ``proposal.safetensors`` plans as before.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from world_model.policies.mlp_file import load_mlp, save_mlp

FILE_NAME = "proposal.safetensors"


class ProposalPolicy(nn.Module):
    """MLP ``[z, z - z_prev, goal - z] -> (H, A_block)`` plan, in the model's normalised action units.

    Args:
        embed_dim: D, the world model's latent size.
        action_block_dim: A_block = frameskip x raw action dim.
        horizon: H, action blocks per proposed plan (the planner's horizon).
        hidden: width of the hidden layers.
        depth: number of hidden layers (>= 1).
        dropout: dropout after each hidden layer while training (hindsight targets are noisy; it delays
            over-fitting the training episodes).
    """

    def __init__(self, embed_dim: int, action_block_dim: int, horizon: int, hidden: int = 512, depth: int = 2,
                 dropout: float = 0.0):
        super().__init__()
        if min(embed_dim, action_block_dim, horizon, hidden, depth) < 1:
            raise ValueError("embed_dim, action_block_dim, horizon, hidden and depth must all be >= 1")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.dims = dict(embed_dim=embed_dim, action_block_dim=action_block_dim, horizon=horizon, hidden=hidden,
                         depth=depth, dropout=dropout)
        layers, width = [], 3 * embed_dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.LayerNorm(hidden), nn.GELU(), nn.Dropout(dropout)]
            width = hidden
        layers.append(nn.Linear(width, horizon * action_block_dim))
        self.net = nn.Sequential(*layers)
        self.horizon, self.action_block_dim = horizon, action_block_dim

    def forward(self, z: torch.Tensor, z_prev: torch.Tensor | None, goal: torch.Tensor) -> torch.Tensor:
        """z (B, D) current embedding, z_prev (B, D) the one an action block earlier (None: unknown, e.g. at an
        episode's first frame), goal (B, D) -> (B, H, A_block) normalised action blocks."""
        motion = torch.zeros_like(z) if z_prev is None else z - z_prev
        x = torch.cat([z, motion, goal - z], dim=-1)
        return self.net(x).unflatten(-1, (self.horizon, self.action_block_dim))

    @torch.inference_mode()
    def propose(self, z_hist: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        """The agent's call: z_hist (B, Th, D) embeddings at block spacing (Th >= 1), goal (B or 1, D) ->
        (B, H, A_block) float32 plan."""
        param = next(self.parameters())
        z_hist = z_hist.to(param.device, param.dtype)
        z_prev = z_hist[:, -2] if z_hist.shape[1] > 1 else None
        goal = goal.to(param.device, param.dtype).expand(z_hist.shape[0], -1)
        return self(z_hist[:, -1], z_prev, goal).float()

    def save(self, folder, info: dict | None = None, half: bool = False, model_sha256: str | None = None) -> Path:
        """Writes ``folder/proposal.safetensors`` (weights, float16 when ``half``; dimensions and ``info`` in its
        metadata). Weights load back as float32."""
        return save_mlp(self, Path(folder) / FILE_NAME, self.dims, info, half, model_sha256)

    @classmethod
    def load(cls, path, map_location="cpu") -> "ProposalPolicy":
        """Loads a file written by :meth:`save` (or the folder holding it), in eval mode.

        Raises:
            FileNotFoundError: no such file.
            UserInputError: the file is not a proposal policy, or its weights are damaged or not finite.
        """
        return load_mlp(cls, path, FILE_NAME, "proposal policy", "lewm-train-proposal", map_location)
