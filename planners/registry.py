"""Every planner by name, in one place: a new planner is its own module plus one line in ``PLANNERS``.

The agent's factory (``agent.pretrained.make_planner``), the checkpoint's planner choice (``planning.json``) and the
commands' ``--planner`` choices all read this table, so nothing else lists planner names.

>>> from planners.registry import planner_class, planner_names
>>> planner_names()
['cem', 'mppi', 'icem', 'proposal']
>>> planner = planner_class("mppi")(horizon=5, action_dim=10)

A registered planner is a :class:`~planners.base.SamplingPlanner` subclass: it takes the base class's keyword
arguments (``horizon``, ``action_dim``, ``num_samples``, ``n_iters``, ``topk``, ``action_low``, ...) and declares
what it needs through the base class's traits (``needs_proposal``, ``shifts_between_plans``).
"""

from __future__ import annotations

from planners.base import SamplingPlanner
from planners.cem import CEM
from planners.follow import FollowProposal
from planners.icem import ICEM
from planners.mppi import MPPI

PLANNERS: dict[str, type[SamplingPlanner]] = {
    "cem": CEM,
    "mppi": MPPI,
    "icem": ICEM,
    "proposal": FollowProposal,  # no search: execute the proposal policy's plan
}


def planner_names() -> list[str]:
    """The registered planner names, in registration order (what ``--planner`` accepts besides ``auto``)."""
    return list(PLANNERS)


def planner_class(name: str) -> type[SamplingPlanner]:
    """The planner class registered as ``name``.

    Raises:
        ValueError: ``name`` is not registered (the message lists the known names).
    """
    if name not in PLANNERS:
        raise ValueError(f"unknown planner {name!r}; known: {', '.join(PLANNERS)}")
    return PLANNERS[name]
