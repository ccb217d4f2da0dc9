"""``lewm/Cube-v0``: pick and place one cube with a UR5e arm, over OGBench's ``visual-cube-single`` (MIT).

A thin subclass of ``ogbench.manipspace.envs.cube_env.CubeEnv`` (64 x 64 px from OGBench's ``front_pixels``
camera, arm drawn transparent, target marker hidden) that adds what goal-image planning needs and the stock env
lacks (``shared/reference/manipulation.md``, A3):

- **Images that show the stored state.** The stock ``step`` renders right after ``mj_step``, so each image shows
  the scene one physics substep behind ``qpos``. ``post_step`` here runs ``mj_forward`` first: restoring a state
  then reproduces its image pixel for pixel, and replaying actions from it is exact.
- **Exact state.** ``qpos`` (21,): arm joints 0:6, gripper 6:14, the cube's free joint 14:21 (x, y, z in metres,
  then the wxyz quaternion); ``qvel`` (20,). The mocap target (which the stock ``set_state`` does not restore)
  always follows the goal cube position.
- **Goals from states.** ``reset(options={"state", "goal_state"})`` as every task here; ``info["goal"]`` is the goal
  state rendered. Success is OGBench's: the cube within 4 cm (3-D) of the goal cube position.
- **One look, shadows on, drawn cheaply.** The arm's shadow on the table is the one cue a single front view gives
  of the gripper's depth and height. The look (``LOOK``): OGBench's scene with a 512-px shadow map, no
  multisampling, and the arm's 185,000-triangle meshes drawn with their vertices merged on a 1-cm grid
  (``envs.mesh_detail``; physics untouched). On Mesa's llvmpipe that is about 9 ms a 64-px frame against 142 ms
  for OGBench's stock settings and 57 ms for the same look with full meshes, 0.8/255 mean pixel difference
  (``experiments/bench/bench_render.py``, record in ``experiments/bench/render``). Data, goals and evaluation all
  render the same way; checkpoints of another look are refused (``look`` in their config).
- **OGBench's evaluation tasks.** ``free_pair(rng, index)`` builds OGBench's single-cube task ``index % 5 + 1`` the
  way its task mode does (arm at a random pose, the cube at the task's start, jittered by 1 cm, random yaw; the goal
  state: the cube at the task's goal after two random actions). The free suite of ``lewm-eval`` uses it.

Actions are OGBench's: float32 in [-1, 1]^5, a relative end-effector command (dx, dy, dz up to 5 cm, dyaw up to
0.3 rad, gripper opening change), turned into joint targets by a differential IK controller; 20 Hz (25 physics
substeps of 2 ms).
"""

from __future__ import annotations

import contextlib

import gymnasium as gym
import mujoco
import numpy as np
from ogbench.manipspace import lie
from ogbench.manipspace.envs.cube_env import CubeEnv as _StockCubeEnv

from envs.goal_env import GoalImageTask, check_image_settings, joint_range_problem, magnitude_problem, step_result
from envs.mesh_detail import coarsen_drawn_meshes

CUBE_QPOS = slice(14, 21)  # the cube's free joint in qpos: x, y, z (m), quaternion w, x, y, z
CUBE_XYZ = slice(14, 17)
SUCCESS_DISTANCE = 0.04  # m, cube to goal cube (OGBench's criterion)
CUBE_REST_Z = 0.02  # m, the cube's centre when it lies on the table
# The rendered look: what a checkpoint was trained on must be what the env draws (config ``look``).
LOOK = "shadowed"
LOOK_NOTE = ("until 2026-12-07 lewm/Cube-v0 drew the cube without shadows (the 'flat' look, checkpoints that "
             "record no look) and lewm/CubeShadows-v0 with them")
SHADOW_MAP = 512  # px: the shadow's edge is sharp at 64 px; larger maps cost time and change no pixel
MESH_CELL = 0.01  # m: drawn-mesh vertices merged on this grid (one 64-px pixel spans 1-2 cm of the arm)
OGBENCH_TASKS = (  # OGBench's single-cube evaluation tasks: (name, cube start xyz, cube goal xyz), metres
    ("task1_horizontal", (0.425, 0.1, 0.02), (0.425, -0.1, 0.02)),
    ("task2_vertical1", (0.35, 0.0, 0.02), (0.50, 0.0, 0.02)),
    ("task3_vertical2", (0.50, 0.0, 0.02), (0.35, 0.0, 0.02)),
    ("task4_diagonal1", (0.35, -0.2, 0.02), (0.50, 0.2, 0.02)),
    ("task5_diagonal2", (0.35, 0.2, 0.02), (0.50, -0.2, 0.02)),
)


class CubeEnv(GoalImageTask, _StockCubeEnv):
    """Single-cube pick and place with image goals and exact states (see the module docstring).

    Args:
        image_size: observation side in pixels (default 64, OGBench's visual size).
        render_mode: ``None`` or ``"rgb_array"`` (``render()`` returns the current frame).
        goal_conditioned: observations as gymnasium-robotics' goal-env dict of images (as ``GoalImageEnv``).
        shadows: draw shadows (the look, ``LOOK``; False only for studies of the depth cue).
        shadow_size: side of the shadow map in pixels when ``shadows`` (OGBench's: 4096; ours 512).
        mesh_cell: grid (m) on which the drawn meshes' vertices are merged; 0 draws OGBench's full meshes.

    Observation: uint8 (image_size, image_size, 3). Action: float32 in [-1, 1]^5.
    ``info``: ``goal`` image, ``success``/``is_success``, ``qpos`` (21,), ``qvel`` (20,), ``goal_qpos``,
    ``error`` (|dx|, |dy|, |dz| of the cube to the goal cube, m), ``distance`` (m), ``closest_reach`` and
    ``highest_lift`` (the closest the gripper came to the cube and the highest the cube was lifted since the
    reset, m), and OGBench's observation
    info (``proprio/*``, ``privileged/*``, ``time``) that its scripted oracles read.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}
    nq, nv = 21, 20
    angle_qpos: tuple[int, ...] = ()
    success_qpos = tuple(range(CUBE_XYZ.start, CUBE_XYZ.stop))  # the cube's x, y, z: the arm does not count
    error_unit = "m"
    success_tolerance = SUCCESS_DISTANCE
    action_repeat = 25  # physics steps per env step
    look, look_note = LOOK, LOOK_NOTE  # an instance drawn otherwise (a study's) says so in its own ``look``

    def __init__(self, image_size: int = 64, render_mode: str | None = None, goal_conditioned: bool = False,
                 shadows: bool = True, shadow_size: int = SHADOW_MAP, mesh_cell: float = MESH_CELL):
        check_image_settings(image_size, render_mode, goal_conditioned)
        super().__init__(env_type="single", ob_type="pixels", width=int(image_size), height=int(image_size),
                         visualize_info=False, mode="data_collection", terminate_at_goal=False)
        self.shadows = bool(shadows)
        self.shadow_size = int(shadow_size)
        self.mesh_cell = float(mesh_cell)
        if not (np.isfinite(self.mesh_cell) and self.mesh_cell >= 0):
            raise ValueError(f"mesh_cell must be a non-negative number of metres, got {mesh_cell}")
        self.look = LOOK if (self.shadows and self.shadow_size == SHADOW_MAP) else f"custom-{self.shadow_size}"
        if not self.shadows:
            self.look = "flat"
        self._observation_space = self._init_goal_image(image_size, render_mode, goal_conditioned)
        self._action_space = gym.spaces.Box(-1.0, 1.0, (5,), np.float32)

    @property
    def observation_space(self):
        return self._observation_space

    @property
    def action_space(self):
        return self._action_space

    @property
    def step_seconds(self) -> float:
        """Simulated time one env step lasts: 25 physics steps of 2 ms (s)."""
        return float(self._control_timestep)

    # ----- model and physics ----------------------------------------------------------------------------------
    def build_mjcf_model(self):
        model = super().build_mjcf_model()
        model.visual.quality.offsamples = 0  # no multisampling: 64-px frames, and much faster on llvmpipe
        # without shadows the unused 4096-px shadow map would hold about 70 MB per env; frames are the same
        model.visual.quality.shadowsize = self.shadow_size if self.shadows else 1
        return model

    def post_compilation_objects(self):
        super().post_compilation_objects()
        if not self.shadows:
            self._model.light_castshadow[:] = 0
        if self.mesh_cell > 0:  # before the renderer is made: it uploads the meshes once
            if self._renderer is not None:
                self._renderer.close()
                self._renderer = None
            coarsen_drawn_meshes(self._model, self.mesh_cell)

    def post_step(self):
        # The stock env renders and reads site positions right after mj_step, one substep behind qpos.
        mujoco.mj_forward(self._model, self._data)
        mujoco.mj_rnePostConstraint(self._model, self._data)
        super().post_step()

    def get_pixel_observation(self):
        # OGBench's reset asks for an observation it then returns; ours draws its frames itself (after placing the
        # state it was asked for), so this hands back the last frame instead of drawing one that would be discarded.
        return self._last_obs

    def _frame(self) -> np.ndarray:
        """The scene drawn from OGBench's ``front_pixels`` camera, uint8 (H, W, 3)."""
        return _StockCubeEnv.render(self, camera="front_pixels").copy()

    # ----- state ----------------------------------------------------------------------------------------------
    def state_problem(self, qpos, qvel) -> str | None:
        """Why a state is not the scene's (None when it is): nothing beyond ``STATE_LIMIT``, the arm's limited
        joints within their ranges."""
        model = getattr(self, "_model", None)
        return magnitude_problem(qpos, qvel) or (joint_range_problem(model, qpos) if model is not None else None)

    def _ensure_scene(self) -> None:
        """Builds the scene (MuJoCo model and data) if the env has not been reset yet."""
        if self._data is None:
            _StockCubeEnv.reset(self)

    def set_state(self, qpos, qvel=None) -> None:
        """Puts the scene in an exact state (velocities default to zero); the mocap target stays on the goal."""
        qpos, qvel_default = self.as_state(qpos, "state")
        self._ensure_scene()
        self._data.qpos[:] = qpos
        self._data.qvel[:] = qvel_default if qvel is None else np.asarray(qvel, np.float64)
        self._place_target(self._goal_qpos[CUBE_XYZ])
        mujoco.mj_forward(self._model, self._data)
        mujoco.mj_rnePostConstraint(self._model, self._data)
        self.pre_step()  # OGBench's "previous state" of the observation info

    def _place_target(self, xyz) -> None:
        self._data.mocap_pos[self._cube_target_mocap_ids[0]] = xyz
        self._data.mocap_quat[self._cube_target_mocap_ids[0]] = lie.SO3.identity().wxyz

    def render_state(self, qpos) -> np.ndarray:
        """Renders the scene at ``qpos`` without disturbing the current state; uint8 (H, W, 3)."""
        self._ensure_scene()
        saved = self._data.qpos.copy(), self._data.qvel.copy()
        self.set_state(qpos)
        image = self._frame()
        self.set_state(*saved)
        return image

    @contextlib.contextmanager
    def _scratch_rng(self, rng: np.random.Generator):
        """Lets OGBench's samplers (which draw from ``self.np_random``) draw from ``rng``, restoring the state."""
        self._ensure_scene()
        saved_rng, saved = self._np_random, (self._data.qpos.copy(), self._data.qvel.copy())
        self._np_random = np.random.default_rng(rng.integers(2**63))
        try:
            yield
        finally:
            self._np_random = saved_rng
            self.set_state(*saved)

    def _arranged_qpos(self, cube_xyz, cube_yaw: float) -> np.ndarray:
        """qpos with the arm at a random pose (OGBench's ``initialize_arm``), the gripper open and the cube at
        ``cube_xyz`` (m) turned by ``cube_yaw`` (rad) about z. Call inside ``_scratch_rng``."""
        self._data.qpos[:] = self._model.qpos0
        self._data.qvel[:] = 0.0
        self.initialize_arm()
        qpos = self._data.qpos.copy()
        qpos[CUBE_XYZ] = cube_xyz
        qpos[CUBE_QPOS][3:] = lie.SO3.from_z_radians(cube_yaw).wxyz
        return qpos

    def sample_state(self, rng: np.random.Generator) -> np.ndarray:
        """A random start at rest (qpos (21,)): the arm as OGBench's data collection draws it, the cube anywhere in
        its sampling area with any yaw."""
        with self._scratch_rng(rng):
            xy = rng.uniform(*self._object_sampling_bounds)
            return self._arranged_qpos((*xy, CUBE_REST_Z), rng.uniform(0.0, 2 * np.pi))

    def sample_goal_state(self, rng: np.random.Generator) -> np.ndarray:
        """A random goal configuration (qpos (21,)): as ``sample_state``."""
        return self.sample_state(rng)

    def free_pair(self, rng: np.random.Generator, index: int) -> tuple[np.ndarray, np.ndarray]:
        """OGBench's single-cube task ``index % 5 + 1``: (start qpos then zero qvel (41,), goal qpos (21,)), built
        as OGBench's task mode builds it (see the module docstring)."""
        _, start_xyz, goal_xyz = OGBENCH_TASKS[index % len(OGBENCH_TASKS)]
        saved_goal = self._goal_qpos.copy()
        with self._scratch_rng(rng):
            goal = self._arranged_qpos(goal_xyz, 0.0)
            self._goal_qpos = goal.copy()
            self.set_state(goal)
            for _ in range(2):  # OGBench lets the goal scene settle under two random actions
                self._move(rng.uniform(-1.0, 1.0, 5))
            goal = self._data.qpos.copy()
            start_xy = np.asarray(start_xyz[:2]) + rng.uniform(-0.01, 0.01, 2)
            start = self._arranged_qpos((*start_xy, start_xyz[2]), rng.uniform(0.0, 2 * np.pi))
            self._goal_qpos = saved_goal
        return np.concatenate([start, np.zeros(self.nv)]), goal

    def report_metrics(self, start_info: dict, info: dict) -> dict:
        """How near the gripper came to the cube and how high the cube went, both since the reset (m): how far a
        miss got through reach, grasp and lift."""
        return {"closest_reach": float(info["closest_reach"]), "highest_lift": float(info["highest_lift"])}

    def task_name(self, index: int) -> str:
        """The name of OGBench's task that ``free_pair(rng, index)`` builds."""
        return OGBENCH_TASKS[index % len(OGBENCH_TASKS)][0]

    def state_error(self, qpos, goal_qpos) -> np.ndarray:
        """Cube position minus goal cube position (m), (3,)."""
        return np.asarray(qpos, np.float64)[CUBE_XYZ] - np.asarray(goal_qpos, np.float64)[CUBE_XYZ]

    def is_success(self, qpos, goal_qpos) -> bool:
        return bool(np.linalg.norm(self.state_error(qpos, goal_qpos)) <= SUCCESS_DISTANCE)

    # ----- gymnasium API --------------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        goal, state = self._reset_options(options)
        _StockCubeEnv.reset(self, seed=seed)  # OGBench's random scene (arm pose, cube, data-collection target)
        self._goal_qpos = goal if goal is not None else self.sample_goal_state(self.np_random)
        self._goal_image = self.render_state(self._goal_qpos)
        if state is not None:
            self.set_state(*state)
        else:
            self.set_state(self._data.qpos.copy(), self._data.qvel.copy())
        self._closest_reach, self._highest_lift = np.inf, 0.0  # updated by every _info
        self._last_obs = self._frame()
        return self._observation(), self._info()

    def _move(self, action) -> None:
        """One env step of the physics with OGBench's controller; no rendering. ``action`` (5,) in [-1, 1]."""
        self.set_control(np.clip(np.asarray(action, np.float64), -1.0, 1.0))
        self.pre_step()
        mujoco.mj_step(self._model, self._data, nstep=self._n_steps)
        self.post_step()

    def step(self, action):
        self._move(self._checked_action(action))
        self._last_obs = self._frame()
        return step_result(self)

    def _info(self) -> dict:
        qpos = self._data.qpos.copy()
        error = self.state_error(qpos, self._goal_qpos)
        success = self.is_success(qpos, self._goal_qpos)
        info = {k: v for k, v in self.compute_ob_info().items() if "/" in k or k == "time"}
        cube = info["privileged/block_0_pos"]
        self._closest_reach = min(self._closest_reach, float(np.linalg.norm(info["proprio/effector_pos"] - cube)))
        self._highest_lift = max(self._highest_lift, float(cube[2]) - CUBE_REST_Z)
        info.update(goal=self._goal_image.copy(), success=success, is_success=success, qpos=qpos,
                    qvel=self._data.qvel.copy(), goal_qpos=self._goal_qpos.copy(), error=np.abs(error),
                    distance=float(np.linalg.norm(error)), closest_reach=self._closest_reach,
                    highest_lift=self._highest_lift)
        return info

    def render(self, *args, **kwargs):
        if args or kwargs:  # OGBench's own render(camera=...) signature
            return _StockCubeEnv.render(self, *args, **kwargs)
        return self._last_obs.copy() if self.render_mode == "rgb_array" else None

    def close(self):
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        super().close()
