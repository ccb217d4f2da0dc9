"""Small learned helpers on top of a trained LeWM, each an MLP file beside the checkpoint with its own training
command: the proposal policy (``lewm-train-proposal``), the subgoal policy (``lewm-train-subgoal``) and the goal
value (``lewm-train-value``)."""
