"""The MPC agent: goal handling, replanning, warm start, the gymnasium-facing ``Agent``, and the CLIs.

    from agent import Agent
    agent = Agent.from_pretrained("reacher", planner="cem")
"""

from agent.agent import Agent

__all__ = ["Agent"]
