"""No search: execute the plan a learned policy proposes.

A sampling planner trusts the cost function's ranking. Where the cost is a model's latent distance to a goal image,
search can find plans the model scores well that do worse in the world: on the OGBench cube the shipped model's
proposal policy alone solved 90 of 100 LeWM-protocol pairs, the same policy refined by MPPI 71
(``experiments/cube/cube.md``). GC-IDM (arXiv 2605.08732) reports the same on LeWM models. This planner keeps
the planner interface, so an agent switches by name (``--planner proposal``) or by its checkpoint's measured
choice (``planning.json``, see ``agent.planner_choice``).
"""

from __future__ import annotations

import torch

from planners.base import SamplingPlanner
from planners.plan_result import PlanResult


class FollowProposal(SamplingPlanner):
    """Returns the first proposal passed to :meth:`plan` (clipped to the action box); ``init_mean`` and the
    sampling settings are ignored, and ``cost_fn`` is called only with ``eval_final`` (once, N = 1).

    Args:
        horizon, action_dim, action_low, action_high, device, dtype, eval_final: as :class:`SamplingPlanner`.
        **ignored: sampling settings (``num_samples``, ``n_iters``, ...) accepted so that the agent builds every
            planner the same way.
    """

    needs_proposal = True

    def __init__(self, horizon: int, action_dim: int, action_low=-1.0, action_high=1.0,
                 device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32, eval_final: bool = True,
                 seed: int = 0, **ignored) -> None:
        # A population of 2 leaves room for one proposal beside the mean (SamplingPlanner._check_proposals).
        super().__init__(horizon, action_dim, num_samples=2, n_iters=1, topk=1, action_low=action_low,
                         action_high=action_high, seed=seed, device=device, dtype=dtype, eval_final=eval_final)

    def refit(self, elites, elite_costs, mean, std):
        return mean, std  # never called: there is nothing to refit

    def _plan(self, cost_fn, batch_size, init_mean, return_history) -> PlanResult:
        if self._proposals is None:
            raise ValueError("FollowProposal executes a proposal policy's plan: call plan(..., proposals=...) (an "
                             "agent passes them when its checkpoint has proposal.safetensors)")
        mean = self._clip(self._proposals[:, 0])
        if self.eval_final:
            costs = self._evaluate(cost_fn, mean[:, None])[:, 0]
        else:
            costs = torch.full((batch_size,), float("nan"), device=self.device, dtype=self.cost_dtype)
        history = torch.zeros(0, batch_size, device=self.device) if return_history else None
        return PlanResult(mean, costs, mean, torch.zeros_like(mean), history)
