"""LeWM world model: encoder, predictor, SIGReg, training and checkpoints.

Public API::

    from world_model import LeWM, LeWMConfig
"""
from world_model.model.config import ConfigError, LeWMConfig
from world_model.model.checkpoint import CheckpointMismatchError
from world_model.model.lewm import LeWM

__all__ = ["LeWM", "LeWMConfig", "ConfigError", "CheckpointMismatchError"]
