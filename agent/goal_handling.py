"""The agent's goals: embedding and caching goal images, and goal-env dicts whose goal changes mid-run."""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from agent.images import to_rgb_frames
from agent.obs_dicts import goal_keys, is_goal_dict, split_goal_dict


class GoalHandling:
    """Goal methods of :class:`agent.agent.Agent` (a mixin: it uses the agent's ``world_model``, ``device``,
    ``image_size``, ``_autocast``, ``_goal``, ``_goal_cache``, ``_goal_keys`` and ``_state``)."""

    def _embed(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 (N, S, S, 3) -> (N, D) float32 embeddings."""
        with torch.inference_mode(), self._autocast():
            pixels = torch.from_numpy(np.require(frames, requirements=["C", "W"]))  # env frames may be read-only
            z = self.world_model.encode(pixels.to(self.device))
        return z.float()

    def set_goal(self, goal) -> None:
        """Sets the goal image: one image for every env, or a batch (N, H, W, 3) with one goal per env.

        Accepts a uint8/float array, a PIL image or a PNG/JPEG path; resized and converted to RGB as needed.
        Embeddings are cached per distinct image, so setting the same goal again costs nothing. An env whose goal
        changes loses its warm start.
        """
        frames = to_rgb_frames(goal, self.image_size)
        frames = frames[None] if frames.ndim == 3 else frames
        embeddings = []
        for frame in frames:
            key = hashlib.sha1(frame.tobytes()).hexdigest()
            if key not in self._goal_cache:
                self._goal_cache[key] = self._embed(frame[None])[0]
            embeddings.append(self._goal_cache[key])
        goal = torch.stack(embeddings)
        self._drop_warm_starts(goal)
        self._goal = goal
        self._goal_keys = None  # set by a dict observation's desired_goal, see _read_goal_dict

    def latent_distance(self, obs) -> np.ndarray:
        """Squared distance between the embeddings of ``obs`` ((H, W, 3) or (N, H, W, 3)) and the goal, in the
        planner's cost units: (N,), or a float for one image. How far off an env is when no pose says so."""
        if self._goal is None:
            raise RuntimeError("no goal: call agent.set_goal(goal_image) before agent.latent_distance(obs)")
        frames = to_rgb_frames(obs, self.image_size)
        dist = (self._embed(frames[None] if frames.ndim == 3 else frames) - self._goal).pow(2).sum(-1).cpu().numpy()
        return float(dist[0]) if frames.ndim == 3 else dist

    def _drop_warm_starts(self, goal: torch.Tensor) -> None:
        """Envs whose goal embedding differs in ``goal`` (G, D) from the current one lose their warm start."""
        state = self._state
        if state is None or self._goal is None:
            return
        if goal.shape != self._goal.shape:
            state.warm[:] = False
            return
        same = (goal == self._goal).all(-1).cpu().numpy()  # (G,)
        state.warm &= same if len(same) == state.n else bool(same.all())

    def _read_goal_dict(self, obs):
        """For a goal-env dict (see ``agent.obs_dicts``): sets the goal from ``desired_goal`` when its bytes changed,
        restarts the envs whose goal changed (a goal env keeps its goal through an episode, so a new goal means
        a new episode, e.g. after a vector env's autoreset) and returns ``observation``. Anything else: as is."""
        if not is_goal_dict(obs):
            return obs
        observation, desired = split_goal_dict(obs)
        keys = goal_keys(desired)
        if keys != self._goal_keys:
            previous = self._goal_keys
            self.set_goal(desired)
            self._goal_keys = keys
            if previous is not None and self._state is not None and len(previous) == len(keys) == self._state.n:
                self._state.restart([i for i, (old, new) in enumerate(zip(previous, keys)) if old != new])
        return observation
