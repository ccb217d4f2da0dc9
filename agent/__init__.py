"""The MPC agent: goal handling, replanning, warm start, the gymnasium-facing ``Agent``, and the CLIs.

    from agent import Agent
    agent = Agent.from_pretrained("reacher", planner="cem")
"""

import os

# Idle OpenMP threads sleep instead of spinning. Planning alternates torch calls with MuJoCo rendering, and
# on a shared 2-core machine spinning threads made torch about 10x slower. Must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from agent.agent import Agent  # noqa: E402

__all__ = ["Agent"]
