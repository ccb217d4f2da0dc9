"""iCEM (Pinneri et al., CoRL 2020): CEM with coloured noise, kept elites, population decay and momentum."""

from __future__ import annotations

import torch

from planners.cem import CEM
from planners.noise import ColoredNoise
from planners.warm_start import shift_plan


class ICEM(CEM):
    """Improved cross-entropy method ("Sample-efficient Cross-Entropy Method for Real-time Planning").

    Differences from :class:`~planners.cem.CEM`:

    - **coloured noise**: samples are correlated along the horizon with a ``1 / f**noise_beta`` spectrum;
    - **kept elites**: the best ``round(keep_frac * topk)`` elites of an iteration are re-evaluated in the next
      one (they replace samples 1.. of the population; sample 0 is still the mean). Across calls to
      :meth:`plan` the last plan's kept elites are shifted ``shift_steps`` blocks forward in time, padded with
      a random last block, and injected into the first iteration (only when the batch size is unchanged);
      :meth:`reset` forgets them;
    - **population decay**: iteration i draws ``N_i = max(int(num_samples * pop_decay**-i), 2 * topk)``
      candidates (capped at ``num_samples``), so ``cost_fn`` sees a shrinking N;
    - **momentum** on mean and std (the paper's alpha), default 0.1.

    Args:
        *args: see :class:`~planners.base.SamplingPlanner` (``horizon``, ``action_dim``, ...).
        noise_beta: spectral exponent of the noise (>= 0); 0 is white noise, 2 the paper's default.
        momentum: weight of the previous mean/std in the refit (alpha in the paper), in ``[0, 1)``.
        keep_frac: fraction of the elites carried to the next iteration, in ``[0, 1]`` (paper: 0.3).
        pop_decay: population decay factor gamma (>= 1; paper: 1.25); 1 keeps N constant.
        shift_steps: blocks executed between two :meth:`plan` calls, by which the kept elites are shifted.
        **kwargs: see :class:`~planners.base.SamplingPlanner` (``num_samples``, ``topk``, ``min_std``, ...).
    """

    shifts_between_plans = True

    def __init__(self, *args, noise_beta: float = 2.0, momentum: float = 0.1, keep_frac: float = 0.3,
                 pop_decay: float = 1.25, shift_steps: int = 1, **kwargs) -> None:
        super().__init__(*args, momentum=momentum, **kwargs)
        if not 0.0 <= keep_frac <= 1.0:
            raise ValueError(f"keep_frac must be in [0, 1], got {keep_frac}")
        if pop_decay < 1.0:
            raise ValueError(f"pop_decay must be >= 1, got {pop_decay}")
        if shift_steps < 0:
            raise ValueError(f"shift_steps must be >= 0, got {shift_steps}")
        self.noise = ColoredNoise(self.horizon, noise_beta, self.device)
        self.noise_beta = noise_beta
        self.pop_decay = pop_decay
        self.shift_steps = shift_steps
        self.min_population = min(2 * self.topk, self.num_samples)
        # Slot 0 is reserved for the mean, so at most N_min - 1 elites can be injected.
        self.n_keep = min(round(keep_frac * self.topk), self.min_population - 1)
        self._kept: torch.Tensor | None = None  # (B, n_keep, H, A) elites injected into the next iteration
        self._tail: torch.Tensor | None = None  # (B, n_keep, H, A) kept elites of the last plan

    def population(self, iteration: int) -> int:
        """``max(int(num_samples * pop_decay**-iteration), min(2 * topk, num_samples))``."""
        return max(int(self.num_samples * self.pop_decay ** -iteration), self.min_population)

    def sample_noise(self, batch_size: int, n: int) -> torch.Tensor:
        """Coloured noise ``(B, n, H, A)``, unit variance per entry."""
        return self.noise((batch_size, n, self.horizon, self.action_dim), self.generator, self.dtype)

    def inject(self, candidates: torch.Tensor, iteration: int) -> torch.Tensor:
        """Put the kept elites into slots ``1 .. n_keep`` of the population ``(B, N_i, H, A)``."""
        if self._kept is not None:
            candidates[:, 1:1 + self._kept.shape[1]] = self._kept
        return candidates

    def refit(
        self, elites: torch.Tensor, elite_costs: torch.Tensor, mean: torch.Tensor, std: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """CEM refit with momentum; also remembers the best ``n_keep`` elites for the next iteration."""
        self._kept = elites[:, :self.n_keep] if self.n_keep > 0 else None
        return super().refit(elites, elite_costs, mean, std)

    def begin_plan(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Seed the first iteration with the last plan's elites, shifted forward in time."""
        self._kept = None
        tail = self._tail
        if tail is None or tail.shape[0] != mean.shape[0]:
            return
        batch, n_keep = tail.shape[:2]
        # The new last block of each shifted elite is drawn around the initial mean's last block.
        fill_noise = torch.randn((batch, n_keep, self.action_dim), generator=self.generator,
                                 device=self.device, dtype=self.dtype)
        fill = mean[:, None, -1] + std[:, None, -1] * fill_noise  # (B, n_keep, A)
        shifted = shift_plan(tail.flatten(0, 1), self.shift_steps, fill=fill.flatten(0, 1))
        self._kept = shifted.view_as(tail)

    def end_plan(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self._tail = self._kept

    def reset(self, seed: int | None = None) -> None:
        """Forget the elites carried between plans; with ``seed``, also re-seed the generator."""
        super().reset(seed)
        self._kept = None
        self._tail = None
