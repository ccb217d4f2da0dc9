"""``lewm/TwoRoom-v0``: the LeWM paper's Two-Room navigation task, rebuilt in MuJoCo.

A point agent (a red disc) moves on a flat square floor enclosed by walls; a wall down the middle splits the floor
into a left and a right room joined by one door. The goal is an agent position, shown as an image of the agent
there. Positions are ``qpos = (x, y)`` in metres (two slide joints); +x is image right, +y image up.

Layout: it copies stable-worldmodel's 64-px reference drawing (``swm/TwoRoom-v1``) at 1 cm per pixel. The free
floor is [-0.28, 0.28]^2 m (a 4 px border of wall), the middle wall is 0.03 m thick (3 px), the door is 0.08 m
wide (8 px) centred at y = +0.18 m (14 px below the top edge), and the agent has a 0.02 m radius (2 px).

Dynamics: each action coordinate drives a 0.2 N motor on one slide joint of a 0.1 kg agent with 1 N s/m
damping, so the top speed is 0.2 m/s (8 mm, 0.8 px per env step of 0.04 s) and velocity follows the action with
a 0.1 s (2.5 env step) time constant. Crossing a room's 0.52 m free width takes about 70 env steps. Contacts are
frictionless (condim 1), so the agent slides along walls; the floor does not collide.

Camera: top-down ``top`` camera 1 m above the floor, field of view 2 atan(0.32 / 1) = 35.5 degrees, so the frame
spans +-0.32 m at the floor: 10 mm per pixel at 64 px, the whole arena with its outer walls.

Success: the agent centre within 0.045 m (Euclidean) of the goal position. stable-worldmodel's Two-Room (the
LeWM evaluation) ends an episode at ``||agent - target|| < 4.5 px`` of its 64-px reference frame; at this
layout's 1 cm per pixel that is 0.045 m, a bit more than the agent's own diameter.
"""

from __future__ import annotations

import numpy as np
from dm_control import mujoco

from envs.position_goal import PositionGoalEnv

FREE_HALF_WIDTH = 0.28  # metres: inner faces of the outer walls
OUTER_WALL_THICKNESS = 0.08  # metres; reaches past the frame edge so no background shows
MIDDLE_WALL_HALF_THICKNESS = 0.015  # metres
DOOR_CENTRE_Y = 0.18  # metres
DOOR_HALF_WIDTH = 0.04  # metres
AGENT_RADIUS = 0.02  # metres
WALL_HALF_HEIGHT = 0.02  # metres
CAMERA_HEIGHT = 1.0  # metres above the floor
FRAME_HALF_WIDTH = 0.32  # metres seen either side of the centre, at the floor
DEFAULT_FOVY = float(np.degrees(2 * np.arctan(FRAME_HALF_WIDTH / CAMERA_HEIGHT)))  # 35.5 degrees
SAMPLE_CLEARANCE = 0.005  # metres between a sampled agent and the nearest wall

LEFT_ROOM, RIGHT_ROOM = 0, 1


def wall_boxes() -> dict[str, tuple[float, float, float, float]]:
    """The walls as 2-D boxes ``name -> (centre x, centre y, half size x, half size y)``, metres."""
    f, t, w = FREE_HALF_WIDTH, OUTER_WALL_THICKNESS, MIDDLE_WALL_HALF_THICKNESS
    outer_half_length = f + t
    door_low, door_high = DOOR_CENTRE_Y - DOOR_HALF_WIDTH, DOOR_CENTRE_Y + DOOR_HALF_WIDTH
    return {
        "wall_left": (-f - t / 2, 0.0, t / 2, outer_half_length),
        "wall_right": (f + t / 2, 0.0, t / 2, outer_half_length),
        "wall_bottom": (0.0, -f - t / 2, outer_half_length, t / 2),
        "wall_top": (0.0, f + t / 2, outer_half_length, t / 2),
        "middle_below_door": (0.0, (-f + door_low) / 2, w, (door_low + f) / 2),
        "middle_above_door": (0.0, (door_high + f) / 2, w, (f - door_high) / 2),
    }


def build_xml() -> str:
    """The MJCF model: floor, walls, and an agent on two motorised slide joints."""
    walls = "\n".join(
        f'    <geom name="{name}" class="wall" pos="{x} {y} {WALL_HALF_HEIGHT}" '
        f'size="{hx} {hy} {WALL_HALF_HEIGHT}"/>'
        for name, (x, y, hx, hy) in wall_boxes().items()
    )
    return f"""<mujoco model="two_room">
  <option timestep="0.02"/>
  <visual>
    <global offwidth="1024" offheight="1024"/>
    <headlight ambient="0.6 0.6 0.6" diffuse="0.4 0.4 0.4" specular="0 0 0"/>
    <quality shadowsize="0"/>
  </visual>
  <default>
    <geom contype="0" conaffinity="0" condim="1"/>
    <default class="wall">
      <geom type="box" contype="1" conaffinity="1" rgba="0.15 0.17 0.22 1"/>
    </default>
    <joint type="slide" damping="1"/>
    <motor gear="0.2" ctrlrange="-1 1" ctrllimited="true"/>
  </default>
  <worldbody>
    <camera name="top" pos="0 0 {CAMERA_HEIGHT}" fovy="{DEFAULT_FOVY}"/>
    <geom name="floor" type="plane" size="0.5 0.5 0.01" rgba="0.93 0.93 0.9 1"/>
{walls}
    <body name="agent" pos="0 0 {AGENT_RADIUS}">
      <joint name="x" axis="1 0 0"/>
      <joint name="y" axis="0 1 0"/>
      <geom name="agent" type="sphere" size="{AGENT_RADIUS}" mass="0.1" contype="1" conaffinity="1"
            rgba="0.85 0.12 0.1 1"/>
    </body>
  </worldbody>
  <actuator>
    <motor name="x" joint="x"/>
    <motor name="y" joint="y"/>
  </actuator>
</mujoco>
"""


def room_of(qpos: np.ndarray) -> np.ndarray | int:
    """Which room an agent position (x, y) is in: ``LEFT_ROOM`` (0) for x < 0, else ``RIGHT_ROOM`` (1).

    Accepts one position (2,) -> int, or a batch (..., 2) -> int array (e.g. a dataset's ``qpos`` column). A
    position in the doorway counts for the side its centre is on.
    """
    x = np.asarray(qpos, dtype=np.float64)[..., 0]
    rooms = np.where(x < 0.0, LEFT_ROOM, RIGHT_ROOM)
    return int(rooms) if rooms.ndim == 0 else rooms


def wall_clearance(qpos: np.ndarray) -> float:
    """Distance from an agent centre (x, y) to the nearest wall surface, metres (negative inside a wall)."""
    x, y = (float(v) for v in np.asarray(qpos, dtype=np.float64)[:2])
    distances = []
    for cx, cy, hx, hy in wall_boxes().values():
        dx, dy = abs(x - cx) - hx, abs(y - cy) - hy
        outside = np.hypot(max(dx, 0.0), max(dy, 0.0))
        distances.append(outside if outside > 0 else max(dx, dy))
    return float(min(distances))


def is_free(qpos: np.ndarray) -> bool:
    """Whether the agent disc centred at (x, y) metres overlaps no wall."""
    return wall_clearance(qpos) >= AGENT_RADIUS


class TwoRoomEnv(PositionGoalEnv):
    """Two rooms joined by one door; reach a goal position shown in an image.

    Args:
        image_size: observation side in pixels (default 64).
        action_repeat: physics steps per env step (2, as for reacher; 0.04 s per env step).
        fovy: camera field of view in degrees (35.5 frames +-0.32 m at the floor).
        render_mode: ``None`` or ``"rgb_array"``.
        goal_conditioned: observations as gymnasium-robotics' goal-env dict of images (see ``GoalImageEnv``).

    Observation: uint8 (image_size, image_size, 3). Action: float32 in [-1, 1]^2, the force on x and y as a
    fraction of 0.2 N (velocity 0.2 m/s x action at steady state).
    ``info``: ``goal`` image, ``success``, ``qpos`` (x, y in m), ``qvel`` (m/s), ``goal_qpos``, ``error``
    (|dx|, |dy| in m), ``distance`` (Euclidean, m), ``room`` and ``goal_room`` (0 left, 1 right).
    ``terminated`` is True on success (distance <= 0.045 m).
    """

    camera = "top"
    success_tolerance = 0.045

    def __init__(self, image_size: int = 64, action_repeat: int = 2, fovy: float = DEFAULT_FOVY, render_mode=None,
                 goal_conditioned: bool = False):
        self.fovy = float(fovy)
        super().__init__(image_size=image_size, action_repeat=action_repeat, render_mode=render_mode,
                         goal_conditioned=goal_conditioned)

    def _build_physics(self):
        return mujoco.Physics.from_xml_string(build_xml())

    def state_problem(self, qpos, qvel):
        """The agent's centre must be on the floor and the disc no more than half inside a wall."""
        problem = super().state_problem(qpos, qvel)
        if problem is None and not np.all(np.abs(np.asarray(qpos[:2])) <= FREE_HALF_WIDTH):
            problem = f"position {np.asarray(qpos[:2]).tolist()} m is outside the floor (+-{FREE_HALF_WIDTH} m)"
        if problem is None and wall_clearance(qpos) < AGENT_RADIUS / 2:
            problem = f"position {np.asarray(qpos[:2]).tolist()} m is inside a wall"
        return problem

    def sample_state(self, rng: np.random.Generator) -> np.ndarray:
        """A position uniform over both rooms (each room equally likely, the doorway excluded), at least
        ``SAMPLE_CLEARANCE`` (5 mm) clear of every wall; metres."""
        margin = AGENT_RADIUS + SAMPLE_CLEARANCE
        x = rng.uniform(MIDDLE_WALL_HALF_THICKNESS + margin, FREE_HALF_WIDTH - margin)
        y = rng.uniform(-FREE_HALF_WIDTH + margin, FREE_HALF_WIDTH - margin)
        side = 1.0 if rng.integers(2) else -1.0
        return np.array([side * x, y])

    def _info(self) -> dict:
        info = super()._info()
        info["room"] = room_of(info["qpos"])
        info["goal_room"] = room_of(info["goal_qpos"])
        return info

    def report_metrics(self, start_info: dict, info: dict) -> dict:
        """``cross_room``: whether the goal is in the other room than the start (a tag: a run reports the success on
        those episodes apart)."""
        return {"cross_room": bool(start_info["room"] != start_info["goal_room"])}
