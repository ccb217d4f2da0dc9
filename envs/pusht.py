"""``lewm/PushT-v0``: push a T-shaped block into a target pose with a round pusher, over gym-pusht (Apache-2.0).

A thin subclass of ``gym_pusht``'s ``PushTEnv`` (pymunk physics, pygame drawing on a 512 x 512 px canvas) that
adds what goal-image planning needs and the stock env lacks (``shared/reference/manipulation.md``, B3):

- **Exact state.** ``qpos = (agent x, agent y, block x, block y, block angle)`` in canvas pixels and radians,
  ``qvel`` their rates (px/s, rad/s). The setter turns the block *before* placing it (the stock
  ``reset_to_state`` places it first, and the T then lands elsewhere) and restores velocities, which a replay
  needs to stay within a pixel.
- **Shapes-only drawing.** No goal polygon and no contact markers (the stock drawing paints pymunk's contact
  points, so a restored state did not reproduce its image), so an image depends on the pose alone.
- **Goals from states.** ``reset(options={"state", "goal_state"})`` as every task here; ``info["goal"]`` is the
  goal state drawn, and the gym-pusht target pose follows the goal's block pose, so ``info["coverage"]`` is the
  overlap of the block with the goal block.
- **Relative actions** (as stable-worldmodel, whose Push-T the LeWM paper uses): an action in [-1, 1]^2 moves
  the PD controller's target to ``agent + 100 px x action``. A planner's zero action then means "stay", not "go
  to the canvas corner", and an action has the same effect anywhere on the table (measured:
  ``experiments/pusht/pusht.md``).

Success, two criteria:
``"pose"`` (default; stable-worldmodel / DINO-WM, the LeWM paper's numbers): agent xy and block xy together
within 20 px (Euclidean over the 4 numbers) and the block angle within pi/9 rad;
``"coverage"`` (gym-pusht's own task): more than 95 % of the goal T's area covered by the block.
"""

from __future__ import annotations

import math
import os
import warnings

import gymnasium as gym
import numpy as np

with warnings.catch_warnings():  # pygame imports pkg_resources, which warns on import
    warnings.simplefilter("ignore", DeprecationWarning)
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame
    import pymunk
    from gym_pusht.envs.pusht import PushTEnv as _StockPushT
    from gym_pusht.envs.pymunk_override import DrawOptions

from envs.goal_env import GoalImageTask, check_image_settings, magnitude_problem, step_result
from envs.task import split_state

CANVAS = 512  # px, the side of gym-pusht's table
ACTION_SCALE = 100.0  # px of target offset per unit of action
TARGET_POSE = np.array([256.0, 256.0, np.pi / 4])  # gym-pusht's goal block pose (x, y px, angle rad)
TARGET_AGENT = np.array([256.0, 440.0])  # where the Push-T task's goal image parks the pusher, clear of the T
BLOCK_COG = np.array([0.0, 45.0])  # px, the T's centre of mass in its body frame (gym-pusht's add_tee)
POSE_TOLERANCE = 20.0  # px, over agent xy and block xy together
ANGLE_TOLERANCE = np.pi / 9  # rad
COVERAGE_THRESHOLD = 0.95
TABLE_MARGIN = 64  # px beyond the canvas edge a state may put a body's reference point (see state_problem)
TABLE_LOW, TABLE_HIGH = 22.0, CANVAS - 22.0  # px: where the pusher's target may go (walls at 5 and 506, radius 15)


def wrap_angle(angle):
    """An angle (or array of them) wrapped into [-pi, pi)."""
    return (np.asarray(angle, dtype=np.float64) + np.pi) % (2 * np.pi) - np.pi


def block_centre(qpos: np.ndarray) -> np.ndarray:
    """The T's centre of mass on the canvas (x, y px) for a state ``qpos`` (5,)."""
    angle = float(qpos[4])
    c, s = math.cos(angle), math.sin(angle)
    return np.asarray(qpos[2:4], np.float64) + np.array([c * BLOCK_COG[0] - s * BLOCK_COG[1],
                                                         s * BLOCK_COG[0] + c * BLOCK_COG[1]])


class PushTEnv(GoalImageTask, _StockPushT):
    """Push-T with image goals and exact states (see the module docstring).

    Args:
        image_size: observation side in pixels (default 64; the 512-px canvas is resized).
        render_mode: ``None`` or ``"rgb_array"`` (``render()`` returns the current frame).
        goal_conditioned: observations as gymnasium-robotics' goal-env dict of images (as ``GoalImageEnv``).
        success: ``"pose"`` (default) or ``"coverage"``, see the module docstring.

    Observation: uint8 (image_size, image_size, 3). Action: float32 in [-1, 1]^2, the PD target offset from the
    pusher in units of 100 px. One env step is 0.1 s: 10 physics steps of 0.01 s.
    ``info``: ``goal`` image, ``success``/``is_success``, ``qpos`` (5,), ``qvel`` (5,), ``goal_qpos``,
    ``error`` (|d agent x|, |d agent y|, |d block x|, |d block y| px, |d angle| rad), ``distance`` (px, over
    the four positions), ``pusher_distance`` and ``block_distance`` (px, each over its x, y), ``angle_error``
    (rad), ``coverage`` (fraction of the goal T covered) and ``coverage_success`` (coverage above 95 %, whichever
    criterion ``success`` uses).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}
    nq = nv = 5
    angle_qpos = (4,)
    error_unit = "px"
    success_tolerance = POSE_TOLERANCE
    action_repeat = 10  # physics steps per env step

    @property
    def step_seconds(self) -> float:
        """Simulated time one env step lasts: gym-pusht's physics step (0.01 s) x ``action_repeat`` (s)."""
        return float(self.dt) * self.action_repeat

    # what lewm-eval averages at each episode's end: the pose test's parts say which one a near miss missed
    REPORTED = ("coverage", "max_coverage", "coverage_success", "pusher_distance", "block_distance", "angle_error")

    def report_metrics(self, start_info: dict, info: dict) -> dict:
        """The pose test's parts and the coverage at the episode's end (px, rad, fraction; ``coverage_success`` a
        0/1 number, averaged into a share of episodes), and the highest coverage since the reset (``max_coverage``:
        Diffusion Policy's and LeRobot's Push-T score, averaged over episodes)."""
        return {k: float(info[k]) for k in self.REPORTED}

    @property
    def success_qpos(self) -> tuple:
        """The qpos entries ``is_success`` reads: the block's x, y and angle for coverage; all five for the pose."""
        return (2, 3, 4) if self.success == "coverage" else ()

    def success_words(self) -> str:
        """Which of the two success tests this env runs."""
        if self.success == "pose":
            return " (the pose test: pusher and block within 20 px, block angle within 20°)"
        return " (the coverage test: block over 95 % of the goal T)"

    def __init__(self, image_size: int = 64, render_mode: str | None = None, goal_conditioned: bool = False,
                 success: str = "pose"):
        check_image_settings(image_size, render_mode, goal_conditioned)
        if success not in ("pose", "coverage"):
            raise ValueError(f"success must be 'pose' or 'coverage', got {success!r}")
        super().__init__(obs_type="pixels", render_mode="rgb_array", observation_width=int(image_size),
                         observation_height=int(image_size))
        self.success = success
        self.observation_space = self._init_goal_image(image_size, render_mode, goal_conditioned)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self._goal_qpos = np.concatenate([TARGET_AGENT, TARGET_POSE])
        self._setup()

    # ----- state --------------------------------------------------------------------------------------------
    def as_state(self, state, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Splits a user-given state into (qpos, qvel); accepts qpos (5,) or qpos then qvel (10,)."""
        return split_state(state, self.nq, self.nv, name,
                           expected="5 values (agent x, y, block x, y, angle) or 10 (then their velocities)")

    def state_problem(self, qpos, qvel) -> str | None:
        """Why a state is off the table (None when it is on it): the pusher and the block's reference point within
        ``TABLE_MARGIN`` px of the 512-px canvas (the T's reference point leaves it when the T is pressed against a
        wall: -27 px in the shipped held-out data), nothing beyond ``STATE_LIMIT``."""
        problem = magnitude_problem(qpos, qvel)
        low, high = -TABLE_MARGIN, CANVAS + TABLE_MARGIN
        for what, xy in (("pusher", qpos[0:2]), ("block", qpos[2:4])):
            if problem is None and not np.all((low <= np.asarray(xy)) & (np.asarray(xy) <= high)):
                problem = f"the {what} at {np.asarray(xy).tolist()} px is off the table [{low}, {high}] px"
        return problem

    def get_qpos(self) -> np.ndarray:
        """(agent x, agent y, block x, block y, block angle wrapped to [-pi, pi)), px and rad."""
        return np.array([*self.agent.position, *self.block.position, float(wrap_angle(self.block.angle))])

    def get_qvel(self) -> np.ndarray:
        """(agent vx, agent vy, block vx, block vy, block angular velocity), px/s and rad/s."""
        return np.array([*self.agent.velocity, *self.block.velocity, self.block.angular_velocity])

    def set_state(self, qpos, qvel=None) -> None:
        """Puts the table in an exact state: the block turned, then placed; velocities default to zero."""
        qpos, qvel_default = self.as_state(qpos, "state")
        qvel = qvel_default if qvel is None else np.asarray(qvel, np.float64)
        self.block.angle = float(qpos[4])
        self.block.position = (float(qpos[2]), float(qpos[3]))
        self.agent.position = (float(qpos[0]), float(qpos[1]))
        self.agent.velocity = (float(qvel[0]), float(qvel[1]))
        self.block.velocity = (float(qvel[2]), float(qvel[3]))
        self.block.angular_velocity = float(qvel[4])
        self.space.reindex_shapes_for_body(self.block)
        self.space.reindex_shapes_for_body(self.agent)

    def sample_state(self, rng: np.random.Generator) -> np.ndarray:
        """gym-pusht's random start: pusher uniform in [50, 450)^2 px, block in [100, 400)^2 px, any angle."""
        return np.array([rng.integers(50, 450), rng.integers(50, 450), rng.integers(100, 400),
                         rng.integers(100, 400), rng.uniform(-np.pi, np.pi)], dtype=np.float64)

    def sample_goal_state(self, rng: np.random.Generator | None = None) -> np.ndarray:
        """The free protocol's goal, the Push-T task's own: the block at gym-pusht's target pose, the pusher
        parked below it (the same for every ``rng``)."""
        return np.concatenate([TARGET_AGENT, TARGET_POSE])

    # ----- drawing ------------------------------------------------------------------------------------------
    def _draw(self):
        """The table with the pusher and the block only: no goal polygon, no contact markers."""
        screen = pygame.Surface((CANVAS, CANVAS))
        screen.fill((255, 255, 255))
        options = DrawOptions(screen)
        options.flags = pymunk.SpaceDebugDrawOptions.DRAW_SHAPES
        self.space.debug_draw(options)
        return screen

    def _frame(self) -> np.ndarray:
        return self._get_img(self._draw(), width=self.image_size, height=self.image_size)

    def render_state(self, qpos) -> np.ndarray:
        """The image of a state, without disturbing the current one; uint8 (H, W, 3)."""
        saved = self.get_qpos(), self.get_qvel()
        self.set_state(qpos)
        image = self._frame()
        self.set_state(*saved)
        return image

    # ----- success --------------------------------------------------------------------------------------------
    def state_error(self, qpos, goal_qpos) -> np.ndarray:
        """Per-coordinate ``qpos - goal_qpos``: px for the positions, wrapped rad for the angle."""
        error = np.asarray(qpos, np.float64)[:5] - np.asarray(goal_qpos, np.float64)[:5]
        error[4] = wrap_angle(error[4])
        return error

    def coverage(self, qpos, goal_qpos) -> float:
        """Fraction of the goal T's area the block covers (gym-pusht's measure), for states ``qpos``, goal."""
        from gym_pusht.envs.pusht import pymunk_to_shapely

        block = self.get_goal_pose_body(np.asarray(qpos, np.float64)[2:5])
        goal = self.get_goal_pose_body(np.asarray(goal_qpos, np.float64)[2:5])
        goal_geom = pymunk_to_shapely(goal, self.block.shapes)
        return float(goal_geom.intersection(pymunk_to_shapely(block, self.block.shapes)).area / goal_geom.area)

    def is_success(self, qpos, goal_qpos) -> bool:
        if self.success == "coverage":
            return self.coverage(qpos, goal_qpos) > COVERAGE_THRESHOLD
        error = self.state_error(qpos, goal_qpos)
        return bool(np.linalg.norm(error[:4]) < POSE_TOLERANCE and abs(error[4]) < ANGLE_TOLERANCE)

    # ----- gymnasium API --------------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        gym.Env.reset(self, seed=seed)
        goal_qpos, state = self._reset_options(options)
        if goal_qpos is None:
            goal_qpos = self.sample_state(self.np_random)
        qpos, qvel = state if state is not None else (self.sample_state(self.np_random), np.zeros(self.nv))
        self._setup()
        self._goal_qpos = goal_qpos
        self.goal_pose = goal_qpos[2:5].copy()  # gym-pusht's own coverage follows the goal block
        self._goal_image = self.render_state(goal_qpos)
        self.set_state(qpos, qvel)
        self._last_obs = self._frame()
        self._max_coverage = 0.0  # raised by every _info
        return self._observation(), self._info()

    def step(self, action):
        action = self._checked_action(action)
        # The pusher is kinematic and would pass through the walls: its target stays on the table.
        target = np.clip(np.asarray(self.agent.position) + ACTION_SCALE * np.clip(action, -1.0, 1.0),
                         TABLE_LOW, TABLE_HIGH)
        self._last_action = target
        for _ in range(self.action_repeat):
            velocity = np.asarray(self.agent.velocity)
            acceleration = self.k_p * (target - np.asarray(self.agent.position)) - self.k_v * velocity
            self.agent.velocity = tuple(velocity + acceleration * self.dt)
            self.space.step(self.dt)
        self._last_obs = self._frame()
        return step_result(self)

    def _info(self) -> dict:
        qpos = self.get_qpos()
        error = self.state_error(qpos, self._goal_qpos)
        success = self.is_success(qpos, self._goal_qpos)
        coverage = self.coverage(qpos, self._goal_qpos)
        self._max_coverage = max(getattr(self, "_max_coverage", 0.0), coverage)
        return {"goal": self._goal_image.copy(), "success": success, "is_success": success, "qpos": qpos,
                "qvel": self.get_qvel(), "goal_qpos": self._goal_qpos.copy(), "error": np.abs(error),
                "distance": float(np.linalg.norm(error[:4])), "angle_error": float(abs(error[4])),
                "pusher_distance": float(np.linalg.norm(error[:2])),
                "block_distance": float(np.linalg.norm(error[2:4])),
                "coverage": coverage, "max_coverage": self._max_coverage,
                "coverage_success": coverage > COVERAGE_THRESHOLD}
