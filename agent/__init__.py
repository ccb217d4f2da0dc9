"""The MPC agent: goal handling, replanning, warm start, the gymnasium-facing ``Agent``, and the CLIs.

    from agent import Agent
    agent = Agent.from_pretrained("reacher")
"""

import os

# Idle OpenMP threads sleep instead of spinning. Planning alternates torch calls with MuJoCo rendering, and
# on a shared 2-core machine spinning threads made torch about 10x slower. Must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__all__ = ["Agent", "record_episodes"]


def __getattr__(name):
    # Imported lazily so that light users of the package (collection workers) do not pay for torch.
    if name == "Agent":
        from agent.agent import Agent

        return Agent
    if name == "record_episodes":  # a dataset from your own env object and data policy
        from agent.record import record_episodes

        return record_episodes
    raise AttributeError(f"module 'agent' has no attribute {name!r}")
