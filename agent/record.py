"""Recording a dataset from a user's own env object and data policy (the Python side of ``lewm-collect``).

    import gymnasium as gym
    from agent import record_episodes
    env = gym.make("Reacher-v5", render_mode="rgb_array", width=64, height=64)
    record_episodes(env, my_policy, episodes=200, out="data/mine.h5", steps=100, angle_qpos=(0, 1))

The file has the layout and attributes ``lewm-collect`` writes, so ``lewm-train`` takes it as is.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm


def _kwargs_json(env) -> str:
    """The env's gym.make kwargs as JSON (what ``lewm-plan``/``lewm-eval`` need to build it again), without the
    rendering settings the adapter chooses itself; "" when the env has no spec (``gym.Env.spec`` is None unless
    ``gym.make`` built it)."""
    spec = env.spec
    if spec is None:
        return ""
    kwargs = {k: v for k, v in (spec.kwargs or {}).items() if k not in ("render_mode", "width", "height")}
    return json.dumps(kwargs, sort_keys=True, default=lambda v: np.asarray(v).tolist()) if kwargs else ""


def record_episodes(env, policy, episodes: int, out, steps: int = 100, image_size: int = 64, seed: int = 0,
                    angle_qpos=(), progress: bool = True) -> dict:
    """Runs ``policy`` in ``env`` for ``episodes`` episodes and writes them to ``out`` (HDF5, atomically).

    Args:
        env: a gymnasium env object with ``render_mode="rgb_array"`` (or image observations) and a Box action
            space; its physical state (``unwrapped.data.qpos``/``qvel``) is stored when it has one.
        policy: ``policy(obs, info) -> action`` in the env's units; ``obs`` is the uint8 (H, W, 3) frame and
            ``info`` holds ``qpos``/``qvel`` when the env has them.
        episodes, steps: how many episodes of at most ``steps`` env steps (an episode the env itself terminates
            ends early).
        image_size: side of the stored frames, pixels.
        seed: episode ``i`` resets with seed ``seed + i``.
        angle_qpos: qpos indices that are angles.

    Returns:
        A summary: episodes, frames, seconds.
    """
    from agent.collect import run_episode
    from envs.gym_task import GymTaskEnv
    from common.cli_errors import UserInputError
    from world_model.data.dataset import write_episodes

    if int(episodes) < 1 or int(steps) < 1:
        raise UserInputError(f"episodes and steps must be at least 1, got {episodes}, {steps}")
    kwargs_json = _kwargs_json(env)
    task = GymTaskEnv(env, env_kwargs=kwargs_json or None, image_size=image_size, angle_qpos=angle_qpos)
    start = time.perf_counter()
    recorded = [run_episode(task, policy, int(steps), seed + index)
                for index in tqdm(range(int(episodes)), desc=f"record {task.env_id}", unit="ep", disable=not progress)]
    attrs = {"env": task.env_id, "env_kwargs": kwargs_json, "env_import": "", "episodes": int(episodes),
             "steps": int(steps), "image_size": int(image_size), "seed": int(seed),
             "policy": getattr(policy, "name", type(policy).__name__), "action_repeat": 1,
             "angle_qpos": np.asarray(task.angle_qpos, np.int64), "action_low": task.action_space.low.astype(float),
             "action_high": task.action_space.high.astype(float), "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
    write_episodes(Path(out), recorded, attrs=attrs)
    return {"episodes": len(recorded), "frames": sum(len(e["pixels"]) for e in recorded),
            "seconds": time.perf_counter() - start}
