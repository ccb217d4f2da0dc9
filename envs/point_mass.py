"""``lewm/PointMass-v0``: the dm_control planar point mass, driven to a position shown in a goal image.

The state is the mass position ``qpos = (x, y)`` in metres (two slide joints); the goal is a position, shown as
an image of the mass there. dm_control's target sphere is made invisible, so two images of the same position are
identical whatever the target. Physics are dm_control's unchanged: 0.02 s timestep, force = 0.1 N x action on
each axis, 1 N s/m damping, 0.3 kg, so the top speed is 0.1 m/s (4 mm per env step at ``action_repeat`` 2) and
the velocity time constant 0.3 s.

Arena: walls at +-0.3 m and a mass of radius 0.01 m, so the mass centre lives in [-0.29, 0.29]^2, which is also
dm_control's joint range; ``sample_state`` draws uniformly there.

Camera: the top-down ``fixed`` camera (0.75 m above the floor) with a 46.2 degree field of view,
2 atan(0.32 / 0.75), so the frame spans +-0.32 m at the floor: 10 mm per pixel at 64 px. The 0.6 m arena fills
60 of the 64 pixels, and the 2-px-wide mass stays whole in the frame even pressed into a corner (a frame of
exactly +-0.3 m would cut it in half there: it sits above the floor, and perspective pushes it outwards).

Success: the mass centre within 0.015 m (Euclidean) of the goal position. That is the radius of dm_control's own
target sphere, inside which its point-mass reward is 1. At 64 px it is 1.5 px, close to the reacher criterion
(0.05 rad moves its fingertip 0.75-1.5 px), so both tasks ask for about the same image precision.
"""

from __future__ import annotations

import numpy as np
from dm_control.suite import point_mass as dm_point_mass

from envs.position_goal import PositionGoalEnv

ARENA_HALF_WIDTH = 0.3  # metres, wall to centre
MASS_RADIUS = 0.01  # metres
CAMERA_HEIGHT = 0.75  # metres above the floor (dm_control's ``fixed`` camera)
FRAME_HALF_WIDTH = 0.32  # metres seen either side of the centre, at the floor
DEFAULT_FOVY = float(np.degrees(2 * np.arctan(FRAME_HALF_WIDTH / CAMERA_HEIGHT)))  # 46.2 degrees


class PointMassEnv(PositionGoalEnv):
    """Planar point mass with image observations and a goal position.

    Args:
        image_size: observation side in pixels (default 64).
        action_repeat: physics steps per env step (2, as in TD-MPC2; 0.04 s per env step).
        fovy: camera field of view in degrees (46.2 frames +-0.32 m at the floor; dm_control's is 45).
        render_mode: ``None`` or ``"rgb_array"``.
        goal_conditioned: observations as gymnasium-robotics' goal-env dict of images (see ``GoalImageEnv``).

    Observation: uint8 (image_size, image_size, 3). Action: float32 forces in [-1, 1]^2 (x, y).
    ``info``: ``goal`` image, ``success``, ``qpos`` (x, y in m), ``qvel`` (m/s), ``goal_qpos``, ``error``
    (|dx|, |dy| in m), ``distance`` (Euclidean, m). ``terminated`` is True on success (distance <= 0.015 m).
    """

    success_tolerance = 0.015

    def __init__(self, image_size: int = 64, action_repeat: int = 2, fovy: float = DEFAULT_FOVY, render_mode=None,
                 goal_conditioned: bool = False):
        self.fovy = float(fovy)
        super().__init__(image_size=image_size, action_repeat=action_repeat, render_mode=render_mode,
                         goal_conditioned=goal_conditioned)

    def _build_physics(self):
        physics = dm_point_mass.Physics.from_xml_string(*dm_point_mass.get_model_and_assets())
        physics.named.model.geom_rgba["target", 3] = 0.0
        return physics

    def position_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Lowest and highest reachable mass-centre position (x, y), metres: the walls less the mass radius."""
        limit = ARENA_HALF_WIDTH - MASS_RADIUS
        return np.full(2, -limit), np.full(2, limit)

    def state_problem(self, qpos, qvel):
        """The mass centre must be inside the arena's walls (+-0.3 m), besides the base checks."""
        problem = super().state_problem(qpos, qvel)
        if problem is None and not np.all(np.abs(np.asarray(qpos[:2])) <= ARENA_HALF_WIDTH):
            problem = (f"position {np.asarray(qpos[:2]).tolist()} m is outside the arena (walls at "
                       f"+-{ARENA_HALF_WIDTH} m)")
        return problem

    def sample_state(self, rng: np.random.Generator) -> np.ndarray:
        """A position uniform in [-0.29, 0.29]^2 m (inside the walls, one mass radius clear of them)."""
        low, high = self.position_bounds()
        return rng.uniform(low, high)
