"""MPPI-style refit: a softmax-weighted average of the top-k candidates."""

from __future__ import annotations

import torch

from planners.base import SamplingPlanner


class MPPI(SamplingPlanner):
    """Model-predictive path integral planner as in stable-worldmodel's ``MPPISolver``, batched over problems.

    The new mean is ``sum_k w_k * elite_k`` with ``w = softmax(-(c - c_min) / temperature)`` over the ``topk``
    lowest-cost candidates (``topk=None`` uses all of them). The std stays at ``init_std`` unless ``update_std``.

    Defaults follow stable-worldmodel: ``num_samples=300, n_iters=30, topk=30, temperature=0.5``, fixed std.

    Args:
        *args: see :class:`~planners.base.SamplingPlanner` (``horizon``, ``action_dim``, ...).
        temperature: softmax temperature (> 0), in cost units; lower concentrates the weights on the best.
        update_std: also refit the std as the weighted std of the elites around the new mean.
        **kwargs: see :class:`~planners.base.SamplingPlanner` (``num_samples``, ``topk``, ``min_std``, ...).
    """

    def __init__(self, *args, temperature: float = 0.5, update_std: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = temperature
        self.update_std = update_std

    def refit(
        self, elites: torch.Tensor, elite_costs: torch.Tensor, mean: torch.Tensor, std: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Softmax-weighted mean (and optionally std) of the elites ``(B, K, H, A)``."""
        # topk returns ascending costs, so column 0 holds the minimum.
        weights = torch.softmax((elite_costs[:, :1] - elite_costs) / self.temperature, dim=1)
        weights = weights.to(elites.dtype)[:, :, None, None]  # (B, K, 1, 1)
        new_mean = (weights * elites).sum(dim=1)
        if self.update_std:
            std = (weights * (elites - new_mean[:, None]).square()).sum(dim=1).sqrt()
        return new_mean, std
