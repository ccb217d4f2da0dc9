"""The MPC agent: goal handling, replanning, warm start, the gymnasium-facing ``Agent``, and the CLIs."""
