"""Goal-env dict observations, as gymnasium-robotics defines them, read by the agent.

A goal-conditioned env (``gym.make("lewm/Reacher-v0", goal_conditioned=True)``) observes
``{"observation": frame, "achieved_goal": frame, "desired_goal": goal image}``: each uint8 (H, W, 3), or
(N, H, W, 3) from a vector env. The agent plans on ``observation`` towards ``desired_goal``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import numpy as np

REQUIRED_KEYS = ("observation", "desired_goal")


def is_goal_dict(obs) -> bool:
    """Whether ``obs`` is a dict observation (any mapping: gymnasium and stable-baselines3 pass dicts)."""
    return isinstance(obs, Mapping)


def split_goal_dict(obs: Mapping) -> tuple[np.ndarray, np.ndarray]:
    """A goal-env dict -> (observation, desired_goal) arrays: (H, W, 3) each, or (N, H, W, 3) each.

    Raises:
        ValueError: a key is missing, or a batch of observations and a batch of goals differ in length.
    """
    missing = [key for key in REQUIRED_KEYS if key not in obs]
    if missing:
        raise ValueError(f"a dict observation needs the goal-env keys 'observation' and 'desired_goal'; "
                         f"missing {missing}, got keys {sorted(map(str, obs))}")
    observation, desired = np.asarray(obs["observation"]), np.asarray(obs["desired_goal"])
    if observation.ndim == 4 and desired.ndim == 4 and len(observation) != len(desired):
        raise ValueError(f"'observation' holds {len(observation)} images but 'desired_goal' {len(desired)}; "
                         f"give one goal per observation")
    return observation, desired


def goal_keys(goal: np.ndarray) -> tuple[str, ...]:
    """A cheap fingerprint per goal image, to tell a changed goal from an unchanged one without embedding it.

    Args:
        goal: one image (H, W, C) or (H, W), or a batch (N, H, W, C).

    Returns:
        one key for one image, N keys for a batch: a hash of the bytes, shape and dtype of each image.
    """
    images = goal if goal.ndim == 4 else goal[None]
    return tuple(_image_key(image) for image in images)


def _image_key(image: np.ndarray) -> str:
    digest = hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=16)
    digest.update(f"{image.dtype.str}{image.shape}".encode())
    return digest.hexdigest()
