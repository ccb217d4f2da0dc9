"""Cross-entropy method: refit a diagonal Gaussian to the top-k candidates."""

from __future__ import annotations

import torch

from planners.base import SamplingPlanner


class CEM(SamplingPlanner):
    """Cross-entropy method (as in LeWM / stable-worldmodel's ``CEMSolver``, batched over problems).

    Each iteration the mean and std become the mean and std of the ``topk`` lowest-cost candidates, optionally
    blended with the previous ones: ``new = momentum * old + (1 - momentum) * elite_stat``.

    LeWM defaults: ``num_samples=300, n_iters=30, topk=30, init_std=1.0``.

    Args:
        *args: see :class:`~planners.base.SamplingPlanner` (``horizon``, ``action_dim``, ...).
        momentum: weight of the previous mean/std in the refit, in ``[0, 1)``; 0 (default) is plain CEM.
        **kwargs: see :class:`~planners.base.SamplingPlanner` (``num_samples``, ``topk``, ``min_std``, ...).
    """

    def __init__(self, *args, momentum: float = 0.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        if self.topk < 2:
            raise ValueError(f"{type(self).__name__} needs topk >= 2 to estimate a std, got {self.topk}")
        self.momentum = momentum

    def refit(
        self, elites: torch.Tensor, elite_costs: torch.Tensor, mean: torch.Tensor, std: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Elite mean and (unbiased) elite std over the K elites ``(B, K, H, A)``, blended by ``momentum``."""
        elite_std, elite_mean = torch.std_mean(elites, dim=1)
        if self.momentum == 0.0:
            return elite_mean, elite_std
        return torch.lerp(elite_mean, mean, self.momentum), torch.lerp(elite_std, std, self.momentum)
