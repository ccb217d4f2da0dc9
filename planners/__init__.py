"""Sampling-based trajectory optimisers that see only a cost function.

>>> from planners import CEM
>>> planner = CEM(horizon=5, action_dim=10, num_samples=300, n_iters=30, topk=30, init_std=1.0)
>>> result = planner.plan(cost_fn, batch_size=B)   # cost_fn: (B, N, H, A) -> (B, N)
>>> result.actions                                  # (B, H, A), the final mean plan
"""

from planners.base import SamplingPlanner
from planners.plan_result import PlanResult, resolve_device
from planners.cem import CEM
from planners.icem import ICEM
from planners.mppi import MPPI
from planners.follow import FollowProposal
from planners.noise import ColoredNoise
from planners.warm_start import shift_plan
from planners.registry import PLANNERS, planner_class, planner_names  # every planner by name: a new one is one line

__all__ = ["CEM", "MPPI", "ICEM", "FollowProposal", "PlanResult", "SamplingPlanner", "ColoredNoise", "shift_plan",
           "resolve_device", "PLANNERS", "planner_class", "planner_names"]
