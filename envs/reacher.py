"""``lewm/Reacher-v0``: the dm_control two-link planar reacher, reached from a goal image.

The state is the joint configuration ``qpos = (shoulder, wrist)`` in radians; the goal is a configuration, shown
as an image of the arm in that pose. Success, as in the LeWM protocol: every joint within 0.05 rad of the goal,
the difference wrapped to (-pi, pi]. The dm_control target dot is made invisible so that two images of the same
arm pose are identical whatever the target.

Camera: the top-down ``fixed`` camera with its field of view narrowed from 45 to 39 degrees, so the arm's full
reach (0.25 m from the centre, finger included) fills the frame: about 8 mm per pixel at 64 px. At 0.05 rad the
fingertip moves 6 mm (wrist) to 12 mm (shoulder), so 64 px is the least resolution that sees the tolerance.
"""

from __future__ import annotations

import numpy as np
from dm_control.suite import reacher as dm_reacher

from envs.goal_env import GoalImageEnv

WRIST_LIMIT = np.deg2rad(160.0)


def wrap_angle(angle: np.ndarray) -> np.ndarray:
    """Wraps angles (radians) to (-pi, pi]."""
    wrapped = np.remainder(np.asarray(angle) + np.pi, 2 * np.pi) - np.pi
    return np.where(wrapped == -np.pi, np.pi, wrapped)


class ReacherEnv(GoalImageEnv):
    """Two-link reacher with image observations and a goal pose.

    Args:
        image_size: observation side in pixels (default 64, what the shipped model was trained on).
        action_repeat: physics steps per env step (2, as in TD-MPC2 and stable-worldmodel; 0.04 s per step).
        fovy: camera field of view in degrees (39 frames the arm's reach; dm_control's default is 45).
        render_mode: ``None`` or ``"rgb_array"``.
        goal_conditioned: observations as gymnasium-robotics' goal-env dict of images (see ``GoalImageEnv``).

    Observation: uint8 (image_size, image_size, 3). Action: float32 torques in [-1, 1]^2.
    ``info``: ``goal`` image, ``success``, ``qpos``, ``qvel``, ``goal_qpos``, ``error`` (|wrapped angle
    difference| per joint, rad). ``terminated`` is True on success.
    """

    success_tolerance = 0.05
    angle_qpos = (0, 1)  # shoulder and wrist
    error_unit = "rad"

    def __init__(self, image_size: int = 64, action_repeat: int = 2, fovy: float = 39.0, render_mode=None,
                 goal_conditioned: bool = False):
        self.fovy = float(fovy)
        super().__init__(image_size=image_size, action_repeat=action_repeat, render_mode=render_mode,
                         goal_conditioned=goal_conditioned)

    def _build_physics(self):
        physics = dm_reacher.Physics.from_xml_string(*dm_reacher.get_model_and_assets())
        physics.named.model.geom_rgba["target", 3] = 0.0
        return physics

    def sample_state(self, rng: np.random.Generator) -> np.ndarray:
        """Shoulder uniform in [-pi, pi), wrist uniform within its +-160 degree limits (dm_control's rule)."""
        return np.array([rng.uniform(-np.pi, np.pi), rng.uniform(-WRIST_LIMIT, WRIST_LIMIT)])

    def state_error(self, qpos: np.ndarray, goal_qpos: np.ndarray) -> np.ndarray:
        return wrap_angle(np.asarray(qpos) - np.asarray(goal_qpos))
