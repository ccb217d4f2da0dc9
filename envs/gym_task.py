"""Any gymnasium environment behind the task contract: image observations, a goal image, exact start and goal
states, a success test.

    env = GymTaskEnv("Reacher-v5", env_kwargs={"default_camera_config": {...}}, image_size=64, angle_qpos=(0, 1))
    obs, info = env.reset(options={"state": qpos_qvel, "goal_state": goal_qpos})

- Pixels come from ``render()`` with ``render_mode="rgb_array"`` (MuJoCo envs are asked to render at the image
  size directly), or from the observation when it is an image; they are resized to ``image_size``.
- Actions are the env's own, in its units and its ``Box``; other action spaces are refused.
- The physical state is ``unwrapped.data.qpos`` / ``qvel`` (the gymnasium MuJoCo and gymnasium-robotics
  convention), restored through ``unwrapped.set_state(qpos, qvel)``; an env without them cannot be reset to a
  state, which the LeWM protocol needs, and says so.
- Success: the env's own ``info["is_success"]`` / ``info["success"]`` when it reports one; else a state match
  (every qpos entry within ``success_tolerance`` of the goal, angles in ``angle_qpos`` wrapped); else False, with
  ``info["success_source"] = "unknown"``.
- The env's own time limit is lifted: episode lengths are the caller's (collection, evaluation budgets).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from envs.task import TaskBase

NO_TIME_LIMIT = 10**9
DEFAULT_TOLERANCE = 0.05  # qpos units: rad for hinges, metres for slides


class EnvContractError(ValueError):
    """A user's env cannot be used the way it was asked to (no pixels, not a Box action space, no state)."""


def parse_env_kwargs(text: str | dict | None) -> dict:
    """``--env-kwargs`` JSON (or a dict) -> dict; anything else is a one-line error."""
    if text is None or text == "":
        return {}
    if isinstance(text, dict):
        return dict(text)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EnvContractError(f"--env-kwargs is not JSON ({exc.msg} at character {exc.pos}): {text!r}") from None
    if not isinstance(value, dict):
        raise EnvContractError(f"--env-kwargs must be a JSON object of keyword arguments, got {text!r}")
    return value


PROJECT_ROOT = Path(__file__).resolve().parent.parent  # where experiments/configs/ lives in a checkout
PATH_SUFFIXES = (".xml", ".mjcf", ".urdf", ".stl", ".obj", ".png", ".json", ".yaml")


def resolve_path_kwargs(kwargs: dict, bases=(PROJECT_ROOT,)) -> dict:
    """``gym.make`` kwargs with every relative file path made absolute, so a dataset or checkpoint that records them
    rebuilds the env from any folder (``{"xml_file": "./experiments/configs/x.xml"}`` -> ``/.../x.xml``).

    A top-level string value counts as a path when it holds a ``/`` or ends in a model/asset suffix and names an
    existing file or folder relative to the working folder or, failing that, to one of ``bases`` (the project
    root: checkpoints recorded before paths were resolved). Anything else is left as it is.
    """
    out = dict(kwargs)
    for key, value in kwargs.items():
        if not isinstance(value, str) or not value or os.path.isabs(value):
            continue
        if "/" not in value and not value.lower().endswith(PATH_SUFFIXES):
            continue
        for base in (Path.cwd(), *map(Path, bases)):
            candidate = base / value
            if candidate.exists():
                out[key] = str(candidate.resolve())
                break
    return out


def _is_image_space(space) -> bool:
    return (isinstance(space, gym.spaces.Box) and space.dtype == np.uint8 and len(space.shape) == 3
            and space.shape[-1] in (1, 3, 4))


def _make_inner(env_id: str, env_kwargs: dict, image_size: int) -> gym.Env:
    """``gym.make`` with pixels: asks for ``rgb_array`` rendering at the image size, without the time limit."""
    base = dict(max_episode_steps=NO_TIME_LIMIT, disable_env_checker=True)
    attempts = [{"render_mode": "rgb_array", "width": image_size, "height": image_size, **env_kwargs},
                {"render_mode": "rgb_array", **env_kwargs}, dict(env_kwargs)]
    if "width" in env_kwargs or "height" in env_kwargs:
        attempts = attempts[1:]
    for kwargs in attempts:
        try:
            return gym.make(env_id, **base, **kwargs)
        except TypeError:  # the constructor does not take width/height or render_mode: try with fewer
            continue
    try:
        return gym.make(env_id, **base, **env_kwargs)
    except TypeError as exc:  # the env's constructor refuses the user's kwargs
        raise EnvContractError(f"env {env_id} does not take these --env-kwargs {env_kwargs}: {exc}") from None


class GymTaskEnv(TaskBase, gym.Env):
    """A gymnasium env id behind the task contract (see the module docstring).

    Args:
        env_id: a registered gymnasium id (import the module that registers it first), or an env already made
            (with ``render_mode="rgb_array"`` unless its observations are images).
        env_kwargs: keyword arguments for ``gym.make`` (dict or JSON text); with an env object: what made it.
        image_size: side of the square uint8 observation, pixels.
        angle_qpos: qpos indices that are angles (wrapped in the state match; the probe predicts cos/sin).
        success_tolerance: the state match's tolerance per qpos entry, in qpos units.
    """

    metadata = {"render_modes": ["rgb_array"]}
    error_unit = "qpos"
    action_repeat = 1
    samples_goals = False  # a gymnasium env has no sampler of reachable goal states (sample_state says so)

    def __init__(self, env_id: str, env_kwargs: dict | str | None = None, image_size: int = 64,
                 angle_qpos=(), success_tolerance: float = DEFAULT_TOLERANCE, render_mode: str | None = None):
        if int(image_size) < 8:
            raise EnvContractError(f"image_size must be at least 8 pixels, got {image_size}")
        if not 0 < success_tolerance < float("inf"):
            raise EnvContractError(f"the success tolerance must be a finite number > 0, got {success_tolerance}")
        self.env_kwargs = resolve_path_kwargs(parse_env_kwargs(env_kwargs))
        self.image_size, self.render_mode = int(image_size), render_mode
        if isinstance(env_id, gym.Env):
            self.env = env_id
            env_id = env_id.spec.id if env_id.spec is not None else type(env_id.unwrapped).__name__
        else:
            self.env = _make_inner(env_id, self.env_kwargs, self.image_size)
        self.env_id = env_id
        self.inner = self.env.unwrapped
        self._pixels_from_obs = _is_image_space(self.env.observation_space)
        if not self._pixels_from_obs and getattr(self.env, "render_mode", None) != "rgb_array":
            self.env.close()
            raise EnvContractError(f"env {env_id} has no rgb_array rendering and its observations are not images: "
                                   f"there are no pixels to learn from")
        if not isinstance(self.env.action_space, gym.spaces.Box):
            self.env.close()
            raise EnvContractError(f"env {env_id} has a {type(self.env.action_space).__name__} action space; the "
                                   f"planners need a continuous Box")
        box = self.env.action_space
        self.action_space = gym.spaces.Box(box.low.astype(np.float32), box.high.astype(np.float32),
                                           box.shape, np.float32)
        self.observation_space = gym.spaces.Box(0, 255, (self.image_size, self.image_size, 3), np.uint8)
        data = getattr(self.inner, "data", None)
        self.nq = int(np.size(data.qpos)) if data is not None and hasattr(data, "qpos") else 0
        self.nv = int(np.size(data.qvel)) if data is not None and hasattr(data, "qvel") else 0
        self.can_set_state = self.nq > 0 and callable(getattr(self.inner, "set_state", None))
        self.angle_qpos = tuple(int(i) for i in (angle_qpos or ()))
        if any(not 0 <= i < max(self.nq, 1) for i in self.angle_qpos):
            raise EnvContractError(f"angle_qpos {list(self.angle_qpos)} names entries outside qpos (size {self.nq})")
        self.success_tolerance = float(success_tolerance)
        self._goal_qpos: np.ndarray | None = None
        self._was_reset = False
        self._goal_image = np.zeros(self.observation_space.shape, np.uint8)
        self._last_obs = self._goal_image

    # ----- state ------------------------------------------------------------------------------------------------
    def _require_state(self, what: str) -> None:
        if not self.can_set_state:
            raise EnvContractError(f"env {self.env_id} cannot be reset to a state (no unwrapped.data.qpos and "
                                   f"unwrapped.set_state(qpos, qvel)), which {what} needs")

    @property
    def step_seconds(self) -> float | None:
        """Simulated seconds per env step: a gymnasium MuJoCo env's ``dt``; None when the env has none."""
        dt = getattr(self.inner, "dt", None)
        return float(dt) if isinstance(dt, (int, float)) and dt > 0 else None

    def as_state(self, state: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
        """A user-given state -> (qpos, qvel); accepts qpos (nq,) or qpos then qvel (nq + nv,)."""
        self._require_state(f"--{name.replace('_', '-')}")
        arr = np.asarray(state, dtype=np.float64).reshape(-1)
        if arr.shape[0] not in (self.nq, self.nq + self.nv) or not np.all(np.isfinite(arr)):
            raise EnvContractError(f"{name} must be {self.nq} finite values (qpos) or {self.nq + self.nv} (qpos "
                                   f"then qvel), got {arr.tolist()}")
        qvel = arr[self.nq:] if arr.shape[0] > self.nq else np.zeros(self.nv)
        problem = self.state_problem(arr[: self.nq], qvel)
        if problem:
            raise EnvContractError(f"{name} is not a state of env {self.env_id}'s world: {problem}")
        return arr[: self.nq], qvel

    def state_problem(self, qpos, qvel) -> str | None:
        """Why a state is not one of this env's (None when it may be): an entry beyond ``STATE_LIMIT`` in
        magnitude (a user's env declares no walls of its own)."""
        from envs.goal_env import magnitude_problem

        return magnitude_problem(qpos, qvel)

    def qpos(self) -> np.ndarray:
        return np.asarray(self.inner.data.qpos, dtype=np.float64).copy() if self.nq else np.zeros(0)

    def qvel(self) -> np.ndarray:
        return np.asarray(self.inner.data.qvel, dtype=np.float64).copy() if self.nv else np.zeros(0)

    def set_state(self, qpos, qvel=None) -> None:
        qpos, default_qvel = self.as_state(qpos, "state")
        if not self._was_reset:  # gymnasium's wrappers refuse to render an env that was never reset
            self.env.reset()
            self._was_reset = True
        self.inner.set_state(qpos, default_qvel if qvel is None else np.asarray(qvel, np.float64))

    def render_state(self, qpos) -> np.ndarray:
        """The image at configuration ``qpos``, leaving the current state as it was; uint8 (H, W, 3)."""
        saved = self.qpos(), self.qvel()
        self.set_state(qpos)
        image = self._frame(None)
        self.inner.set_state(*saved)
        return image

    def sample_state(self, rng: np.random.Generator) -> np.ndarray:
        raise EnvContractError(f"env {self.env_id} has no sampler of reachable goal states, which the free suite "
                               f"needs; evaluate it with --suite lewm")

    def free_pair(self, rng: np.random.Generator, index: int) -> tuple[np.ndarray, np.ndarray]:
        return self.sample_state(rng)  # raises: no sampler

    def state_error(self, qpos, goal_qpos) -> np.ndarray:
        """|qpos - goal| per entry, angles wrapped to [0, pi]."""
        diff = np.asarray(qpos, np.float64) - np.asarray(goal_qpos, np.float64)
        for i in self.angle_qpos:
            diff[i] = (diff[i] + np.pi) % (2 * np.pi) - np.pi
        return np.abs(diff)

    def is_success(self, qpos, goal_qpos) -> bool:
        return bool(np.all(self.state_error(qpos, goal_qpos) <= self.success_tolerance))

    # ----- pixels -----------------------------------------------------------------------------------------------
    def _frame(self, obs) -> np.ndarray:
        from PIL import Image

        raw = np.asarray(obs if self._pixels_from_obs and obs is not None else self.env.render())
        if raw.ndim != 3 or raw.shape[-1] not in (1, 3, 4):
            raise EnvContractError(f"env {self.env_id} rendered an array of shape {raw.shape}, not an image")
        if raw.dtype != np.uint8:
            raw = np.clip(raw * (255.0 if raw.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
        raw = np.repeat(raw, 3, -1) if raw.shape[-1] == 1 else raw[..., :3]
        if raw.shape[:2] != (self.image_size, self.image_size):
            raw = np.asarray(Image.fromarray(raw).resize((self.image_size, self.image_size), Image.BILINEAR))
        return np.ascontiguousarray(raw)

    # ----- gymnasium API ----------------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        options = options or {}
        unknown = set(options) - {"state", "goal_state"}
        if unknown:
            raise EnvContractError(f"unknown reset options {sorted(unknown)}; known: 'state', 'goal_state'")
        obs, _ = self.env.reset(seed=seed)
        self._was_reset = True
        self._goal_qpos, self._goal_image = None, None
        if options.get("goal_state") is not None:
            goal_qpos, _ = self.as_state(options["goal_state"], "goal_state")
            self._goal_qpos, self._goal_image = goal_qpos, self.render_state(goal_qpos)
        if options.get("state") is not None:
            self.set_state(*self.as_state(options["state"], "state"))
            obs = None  # an image observation from before the state was set would be stale
        self._last_obs = self._frame(obs)
        if self._goal_image is None:  # no goal given: the start frame stands in for one
            self._goal_image = self._last_obs.copy()
        return self._last_obs, self._info({})

    def step(self, action):
        action = np.asarray(action, dtype=np.float32).reshape(self.action_space.shape)
        obs, reward, terminated, _, inner_info = self.env.step(action)
        self._last_obs = self._frame(obs)
        info = self._info(inner_info)
        return self._last_obs, float(reward), bool(terminated or info["success"]), False, info

    def _info(self, inner_info: dict) -> dict:
        qpos = self.qpos()
        info = {"goal": self._goal_image.copy(), "qpos": qpos, "qvel": self.qvel()}
        own = next((inner_info[k] for k in ("is_success", "success") if k in inner_info), None)
        if own is not None:
            info["success"], info["success_source"] = bool(own), "env"
        elif self._goal_qpos is not None and self.nq:
            info["success"], info["success_source"] = self.is_success(qpos, self._goal_qpos), "state"
        else:
            info["success"], info["success_source"] = False, "unknown"
        if self._goal_qpos is not None:
            info["goal_qpos"] = self._goal_qpos.copy()
            info["error"] = self.state_error(qpos, self._goal_qpos)
        info["is_success"] = info["success"]
        return info

    def render(self):
        return self._last_obs.copy() if self.render_mode == "rgb_array" else None

    def close(self):
        env, self.env = getattr(self, "env", None), None
        if env is not None:
            env.close()
