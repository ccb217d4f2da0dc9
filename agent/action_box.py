"""The env's action box as a planner sees it: in the world model's normalised units, one action block long."""

from __future__ import annotations

import torch


def planner_box(world_model) -> tuple[torch.Tensor, torch.Tensor]:
    """The env's action box in the model's normalised block units: two (frameskip*A,) tensors. The box is the
    checkpoint's (``action_low``/``action_high``, a user's gymnasium env), else our tasks' [-1, 1]^A."""
    cfg = world_model.cfg
    low = torch.tensor(cfg.action_low if cfg.action_low is not None else [-1.0] * cfg.action_dim)
    high = torch.tensor(cfg.action_high if cfg.action_high is not None else [1.0] * cfg.action_dim)
    lo = world_model.normalize_actions(low.float().repeat(cfg.frameskip))
    hi = world_model.normalize_actions(high.float().repeat(cfg.frameskip))
    return lo.detach().cpu(), hi.detach().cpu()
