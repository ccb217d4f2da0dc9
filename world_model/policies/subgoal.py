"""A learned high level for far goals: the embedding to aim at next, a few action blocks ahead.

The proposal policy (``world_model.policies.proposal``) and the latent cost reach goals a few blocks away. A goal a
whole pick, carry and place away (OGBench's cube tasks) is beyond both: its embedding says where the cube must end, not
that the gripper must first go and close on it. The data know the way there. This MLP is trained on the world
model's own dataset with hindsight goals up to ``max_goal_blocks`` ahead (``world_model.policies.proposal_data``
``SubgoalSampler``) to predict the embedding the data reached ``subgoal_blocks`` blocks later on the way (the goal
itself when it is nearer). The agent hands the low level that embedding instead of the goal at every replan, as
HIQL's high-level policy does in OGBench. It has the ``subgoals`` method of ``agent.waypoints.WaypointGraph``,
so an agent takes either in the same place.

Near the goal a subgoal only gets in the way: it is a regression to where the data went next, so it keeps the
agent moving past a goal that is already within the low level's reach. With ``reach`` set, an env whose goal lies
within that latent distance of its current embedding is handed the goal itself, as the waypoint graph does.
Distances are squared Euclidean over ``2 * D`` (1.0: two independent draws of SIGReg's unit Gaussian).
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from world_model.policies.mlp_file import load_mlp, save_mlp

FILE_NAME = "subgoal.safetensors"


class SubgoalPolicy(nn.Module):
    """MLP ``[z, goal - z] -> z + delta``: the (B, D) embedding ``subgoal_blocks`` blocks ahead towards ``goal``.

    Args:
        embed_dim: D, the world model's latent size.
        subgoal_blocks: K, how many action blocks ahead the predicted subgoal lies (recorded; training sets it).
        hidden, depth: width and number of the hidden layers.
        dropout: dropout after each hidden layer while training.
        reach: latent distance (normalised, see the module docstring) under which the goal itself is the target;
            None: always the predicted subgoal.
    """

    def __init__(self, embed_dim: int, subgoal_blocks: int, hidden: int = 512, depth: int = 2,
                 dropout: float = 0.0, reach: float | None = None):
        super().__init__()
        if min(embed_dim, subgoal_blocks, hidden, depth) < 1:
            raise ValueError("embed_dim, subgoal_blocks, hidden and depth must all be >= 1")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if reach is not None and not reach > 0:
            raise ValueError(f"reach must be positive (or None), got {reach}")
        self.dims = dict(embed_dim=embed_dim, subgoal_blocks=subgoal_blocks, hidden=hidden, depth=depth,
                         dropout=dropout, reach=reach)
        layers, width = [], 2 * embed_dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.LayerNorm(hidden), nn.GELU(), nn.Dropout(dropout)]
            width = hidden
        layers.append(nn.Linear(width, embed_dim))
        self.net = nn.Sequential(*layers)
        self.subgoal_blocks = subgoal_blocks

    def forward(self, z: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        """z (B, D) current embedding, goal (B, D) -> (B, D) subgoal embedding."""
        return z + self.net(torch.cat([z, goal - z], dim=-1))

    @property
    def reach(self) -> float | None:
        """The ``reach`` it was built or saved with (kept in ``dims``, which the file stores)."""
        return self.dims["reach"]

    @torch.inference_mode()
    def subgoals(self, current: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        """The agent's call: (N, D) current embeddings, (N or 1, D) goals -> (N, D) targets, in the goal's device
        and dtype: the predicted subgoal, or the goal where it is within ``reach``."""
        param = next(self.parameters())
        z = current.to(param.device, param.dtype)
        goal_here = goal.to(param.device, param.dtype).expand(z.shape[0], -1)
        target = self(z, goal_here)
        if self.reach is not None:
            near = (goal_here - z).square().sum(-1) / (2 * z.shape[-1]) < self.reach  # (N,)
            target = torch.where(near[:, None], goal_here, target)
        return target.to(device=goal.device, dtype=goal.dtype)

    def save(self, folder, info: dict | None = None, half: bool = False, model_sha256: str | None = None) -> Path:
        """Writes ``folder/subgoal.safetensors`` (float16 weights when ``half``)."""
        return save_mlp(self, Path(folder) / FILE_NAME, self.dims, info, half, model_sha256)

    @classmethod
    def load(cls, path, map_location="cpu") -> "SubgoalPolicy":
        """Loads a file written by :meth:`save` (or the folder holding it), in eval mode.

        Raises:
            FileNotFoundError: no such file.
            UserInputError: the file is not a subgoal policy, or its weights are damaged or not finite.
        """
        return load_mlp(cls, path, FILE_NAME, "subgoal policy", "lewm-train-subgoal", map_location)
