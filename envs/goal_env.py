"""A goal-image gymnasium environment over a MuJoCo physics, shared by every task.

Observations are top-down RGB images; the goal is an image of the same scene rendered at the goal state, so a
picture of a pose is all a planner needs. Subclasses say how to build the physics, how to draw states and when
a state counts as the goal reached.

With ``goal_conditioned=True`` the observation is gymnasium-robotics' goal-env dict of images instead
(``observation``, ``achieved_goal``, ``desired_goal``), with the matching ``compute_reward``.
"""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np

from envs.task import TaskBase


class GoalImageTask(TaskBase):
    """What every image-goal task shares, whatever its physics (``GoalImageEnv`` over dm_control, ``PushTEnv`` over
    gym-pusht, ``CubeEnv`` over OGBench): the constructor's checks of the image settings, the observation (a frame
    or the goal-env dict), the reset options (``state``, ``goal_state``, checked before anything changes), the
    action check and ``render``. A subclass keeps ``_goal_qpos`` (nq,), ``_goal_image`` and ``_last_obs`` (uint8
    (H, W, 3)) current."""

    def _init_goal_image(self, image_size, render_mode, goal_conditioned) -> gym.spaces.Space:
        """Checks and keeps the image settings, sets the empty goal and the reward of a goal env; returns the
        observation space (a frame Box, or the goal-env Dict). Call once ``nq`` is known."""
        check_image_settings(image_size, render_mode, goal_conditioned)
        self.image_size = int(image_size)
        self.render_mode = render_mode
        self.goal_conditioned = bool(goal_conditioned)
        frame_space = gym.spaces.Box(0, 255, (self.image_size, self.image_size, 3), np.uint8)
        if self.goal_conditioned:  # an instance attribute: stable-baselines3 takes any env with one for a goal env
            self.compute_reward = pixel_goal_reward
        self._goal_qpos = np.zeros(self.nq)
        self._goal_image = np.zeros(frame_space.shape, np.uint8)
        self._last_obs = self._goal_image
        return goal_dict_space(frame_space) if self.goal_conditioned else frame_space

    def _reset_options(self, options: dict | None) -> tuple[np.ndarray | None, tuple | None]:
        """``reset``'s options -> (goal qpos or None, (qpos, qvel) of the start or None), each checked against
        the task's world (``state_problem``) before the env changes; ValueError for an unknown option."""
        options = options or {}
        unknown = set(options) - {"state", "goal_state"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; known: 'state', 'goal_state'")
        goal = state = None
        if options.get("goal_state") is not None:
            goal = self.as_state(options["goal_state"], "goal_state")[0]
            check_state(self, goal, np.zeros(self.nv), "goal_state")
        if options.get("state") is not None:
            state = self.as_state(options["state"], "state")
            check_state(self, *state, "state")
        return goal, state

    def _checked_action(self, action) -> np.ndarray:
        """An action as float64 (A,), or a ValueError for another shape or a non-finite value."""
        action = np.asarray(action, dtype=np.float64).reshape(-1)
        if action.shape != self.action_space.shape:
            raise ValueError(f"action must have shape {self.action_space.shape}, got {action.shape}")
        if not np.all(np.isfinite(action)):
            raise ValueError(f"action must be finite, got {action.tolist()}")
        return action

    def _observation(self):
        """The current frame, uint8 (H, W, 3); or, goal-conditioned, the goal-env dict of three such images."""
        return frame_observation(self)

    def render(self):
        return self._last_obs.copy() if self.render_mode == "rgb_array" else None


def check_image_settings(image_size, render_mode, goal_conditioned) -> None:
    """ValueError for an image side under 8 px, a render mode other than None / ``"rgb_array"`` or a
    ``goal_conditioned`` that is not a bool."""
    if not isinstance(goal_conditioned, (bool, np.bool_)):
        raise ValueError(f"goal_conditioned must be True or False, got {goal_conditioned!r}")
    if int(image_size) < 8:
        raise ValueError(f"image_size must be at least 8 pixels, got {image_size}")
    if render_mode not in (None, "rgb_array"):
        raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")


class GoalImageEnv(GoalImageTask, gym.Env):
    """Base class: image observations, a goal image in ``info``, exact start and goal states.

    Args:
        image_size: side of the square observation, in pixels.
        action_repeat: physics control steps per env step.
        render_mode: ``None`` or ``"rgb_array"`` (``render()`` returns the current frame).
        goal_conditioned: ``False`` (default): the observation is the frame, uint8 (H, W, 3), and the reward is
            ``float(info["success"])``. ``True``: the observation is gymnasium-robotics' goal-env dict
            ``{"observation": frame, "achieved_goal": frame, "desired_goal": goal image}``, each uint8 (H, W, 3)
            (the achieved goal is the image of the state reached, i.e. the frame), ``observation_space`` a
            ``Dict`` of three such boxes, and the reward is ``compute_reward(achieved_goal, desired_goal, info)``
            (see there). Success, ``terminated`` and ``info`` are the same in both modes.

    ``info`` always holds ``success`` and the same bool as ``is_success`` (the key stable-baselines3 and
    gymnasium-robotics read).

    Subclasses define ``_build_physics``, ``sample_state``, ``state_error``, ``success_tolerance``,
    ``camera`` and ``fovy`` (degrees), and may hide task markers in ``_build_physics``. They also declare
    ``angle_qpos`` (the indices of ``qpos`` that are angles, which wrap: a linear probe of a world model predicts
    their cos and sin, the other entries as they are) and ``error_unit`` (the unit of ``info["error"]`` and of
    ``success_tolerance``: ``"rad"``, ``"m"``).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 25}
    camera: str = "fixed"
    fovy: float | None = None
    success_tolerance: float = 0.0
    angle_qpos: tuple[int, ...] = ()
    error_unit: str = ""

    def __init__(self, image_size: int = 64, action_repeat: int = 2, render_mode: str | None = None,
                 goal_conditioned: bool = False):
        check_image_settings(image_size, render_mode, goal_conditioned)
        self.image_size = int(image_size)
        self.action_repeat = int(action_repeat)
        self.physics = self._build_physics()
        if self.fovy is not None:
            self.physics.model.cam_fovy[self.physics.model.name2id(self.camera, "camera")] = self.fovy
        self.nq = int(self.physics.model.nq)
        self.nv = int(self.physics.model.nv)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (int(self.physics.model.nu),), np.float32)
        self.observation_space = self._init_goal_image(image_size, render_mode, goal_conditioned)

    # ----- hooks for subclasses -------------------------------------------------------------------------------
    def _build_physics(self):
        raise NotImplementedError

    def sample_state(self, rng: np.random.Generator) -> np.ndarray:
        """Draws a reachable configuration (nq,)."""
        raise NotImplementedError

    def state_error(self, qpos: np.ndarray, goal_qpos: np.ndarray) -> np.ndarray:
        """Per-coordinate error between a configuration and the goal, in the task's units."""
        raise NotImplementedError

    def _on_goal_set(self, goal_qpos: np.ndarray) -> None:
        """Called when the goal changes (e.g. to move a task marker); default: nothing."""

    def state_problem(self, qpos: np.ndarray, qvel: np.ndarray) -> str | None:
        """Why ``(qpos, qvel)`` is not a state of this task's world (None when it is): what ``reset`` refuses as a
        start or goal. Default: no entry beyond ``STATE_LIMIT``, every limited joint within its range; tasks add
        their own walls (point mass: inside its arena; two rooms: not inside a wall)."""
        return magnitude_problem(qpos, qvel) or joint_range_problem(self.physics.model, qpos)

    # ----- state ----------------------------------------------------------------------------------------------
    def set_state(self, qpos: np.ndarray, qvel: np.ndarray | None = None) -> None:
        """Puts the physics in an exact configuration (velocities default to zero)."""
        qpos, qvel_default = self.as_state(qpos, "state")
        with self.physics.reset_context():
            self.physics.data.qpos[:] = qpos
            self.physics.data.qvel[:] = qvel_default if qvel is None else np.asarray(qvel, np.float64)

    @property
    def step_seconds(self) -> float:
        """Simulated time one env step lasts: physics timestep x ``action_repeat`` (s)."""
        return float(self.physics.timestep()) * self.action_repeat

    def render_state(self, qpos: np.ndarray) -> np.ndarray:
        """Renders the scene at configuration ``qpos`` without disturbing the current state; uint8 (H, W, 3)."""
        saved_qpos = self.physics.data.qpos.copy()
        saved_qvel = self.physics.data.qvel.copy()
        self.set_state(qpos)
        image = self._render()
        self.set_state(saved_qpos, saved_qvel)
        return image

    def _render(self) -> np.ndarray:
        return self.physics.render(height=self.image_size, width=self.image_size, camera_id=self.camera)

    def is_success(self, qpos: np.ndarray, goal_qpos: np.ndarray) -> bool:
        return bool(np.all(np.abs(self.state_error(qpos, goal_qpos)) <= self.success_tolerance))

    # ----- gymnasium API ----------------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        goal_qpos, state = self._reset_options(options)
        if goal_qpos is None:
            goal_qpos = self.sample_state(self.np_random)
        qpos, qvel = state if state is not None else (self.sample_state(self.np_random), np.zeros(self.nv))
        self._goal_qpos = np.array(goal_qpos, dtype=np.float64)
        self._on_goal_set(self._goal_qpos)
        self._goal_image = self.render_state(self._goal_qpos)
        self.set_state(qpos, qvel)
        self._last_obs = self._render()
        return self._observation(), self._info()

    def step(self, action):
        action = self._checked_action(action)
        self.physics.set_control(np.clip(action, -1.0, 1.0))
        for _ in range(self.action_repeat):
            self.physics.step()
        self._last_obs = self._render()
        return step_result(self)

    def _info(self) -> dict:
        qpos = self.physics.data.qpos.copy()
        error = self.state_error(qpos, self._goal_qpos)
        success = self.is_success(qpos, self._goal_qpos)
        return {
            "goal": self._goal_image.copy(),  # a fresh array each call: callers keep infos
            "success": success,
            "is_success": success,  # the key stable-baselines3's EvalCallback and gymnasium-robotics read
            "qpos": qpos,
            "qvel": self.physics.data.qvel.copy(),
            "goal_qpos": self._goal_qpos.copy(),
            "error": np.abs(error),
        }

    def close(self):
        physics, self.physics = getattr(self, "physics", None), None
        if physics is not None:
            physics.free()


GOAL_KEYS = ("observation", "achieved_goal", "desired_goal")


STATE_LIMIT = 1e4  # no position (m, rad, px) or velocity of any task's state is this large in magnitude
RANGE_SLACK = 0.05  # a joint may sit this fraction of its range beyond it (MuJoCo's limits are soft)


def magnitude_problem(qpos, qvel) -> str | None:
    """A reason when an entry of ``qpos``/``qvel`` is beyond ``STATE_LIMIT`` in magnitude, else None."""
    for name, values in (("qpos", qpos), ("qvel", qvel)):
        values = np.asarray(values, np.float64).reshape(-1)
        big = np.flatnonzero(~(np.abs(values) <= STATE_LIMIT))
        if len(big):
            return f"{name}[{big[0]}] = {values[big[0]]:.4g} is beyond {STATE_LIMIT:g} in magnitude"
    return None


def joint_range_problem(model, qpos) -> str | None:
    """A reason when a limited hinge or slide joint of a MuJoCo ``model`` (``mujoco.MjModel`` or dm_control's
    wrapper) sits outside its range in ``qpos`` (by more than ``RANGE_SLACK`` of it), else None."""
    qpos = np.asarray(qpos, np.float64).reshape(-1)
    for j in range(int(model.njnt)):
        if not model.jnt_limited[j] or int(model.jnt_type[j]) not in (2, 3):  # 2 slide, 3 hinge
            continue
        adr = int(model.jnt_qposadr[j])
        low, high = (float(v) for v in model.jnt_range[j])
        slack = RANGE_SLACK * (high - low)
        if adr < len(qpos) and not low - slack <= qpos[adr] <= high + slack:
            return f"qpos[{adr}] = {qpos[adr]:.4g} is outside its joint's range [{low:.4g}, {high:.4g}]"
    return None


def check_state(env, qpos, qvel, name: str) -> None:
    """Raises ValueError when ``env.state_problem(qpos, qvel)`` finds the state outside the task's world, before
    ``reset`` changes anything (so a refused reset leaves the env as it was)."""
    problem = env.state_problem(np.asarray(qpos, np.float64), np.asarray(qvel, np.float64))
    if problem:
        raise ValueError(f"{name} is not a state of this task's world: {problem}")


def frame_observation(env):
    """An image goal env's observation (``GoalImageEnv``, ``PushTEnv``): its last frame ``env._last_obs``, or,
    when ``env.goal_conditioned``, the goal-env dict of that frame and ``env._goal_image``."""
    if not env.goal_conditioned:
        return env._last_obs
    return {"observation": env._last_obs, "achieved_goal": env._last_obs.copy(),
            "desired_goal": env._goal_image.copy()}


def step_result(env) -> tuple:
    """``step``'s return after the env has moved and drawn its frame: (obs, reward, terminated on success, False,
    info); the reward is ``compute_reward`` on the goal dict when goal-conditioned, else the success as a float."""
    info = env._info()
    obs = env._observation()
    if env.goal_conditioned:
        reward = float(env.compute_reward(obs["achieved_goal"], obs["desired_goal"], info))
    else:
        reward = float(info["success"])
    return obs, reward, info["success"], False, info


def goal_dict_space(frame_space: gym.spaces.Box) -> gym.spaces.Dict:
    """gymnasium-robotics' goal-env observation space: the three keys of ``GOAL_KEYS``, each a copy of
    ``frame_space`` (uint8 (H, W, 3))."""
    return gym.spaces.Dict({key: copy.deepcopy(frame_space) for key in GOAL_KEYS})


def pixel_goal_reward(achieved_goal, desired_goal, info=None):
    """gymnasium-robotics' ``compute_reward`` for image goals: minus the mean absolute pixel difference, in [-1, 0].

    Args:
        achieved_goal, desired_goal: uint8 images (H, W, 3), or batches (B, H, W, 3) as hindsight relabelling
            passes them.
        info: ignored (the reward depends on the two images only, so a relabelled goal gets its own reward).

    Returns:
        a float for one pair, a float64 array (B,) for a batch: ``-mean(|achieved - desired|) / 255``, 0 for
        identical images. Computed in integers, so one pair gives bit for bit its entry in a batch.
    """
    achieved, desired = np.asarray(achieved_goal), np.asarray(desired_goal)
    if achieved.shape != desired.shape or achieved.ndim not in (3, 4):
        raise ValueError(f"achieved_goal and desired_goal must both be (H, W, 3) or (B, H, W, 3) images, got "
                         f"{achieved.shape} and {desired.shape}")
    diff = np.abs(achieved.astype(np.int64) - desired.astype(np.int64)).sum(axis=(-3, -2, -1))
    reward = -diff / (255.0 * np.prod(achieved.shape[-3:]))
    return float(reward) if achieved.ndim == 3 else reward
