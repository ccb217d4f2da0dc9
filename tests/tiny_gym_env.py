"""A tiny third-party gymnasium env for the tests, registered on import (``--import tiny_gym_env``).

``TinyDot-v0``: a point in the unit square moved by velocity actions in [-2, 2]^2 (not our [-1, 1]) and drawn
as a 3x3 white square on black. Its state follows the gymnasium MuJoCo convention: ``unwrapped.data.qpos`` /
``qvel`` and ``unwrapped.set_state(qpos, qvel)``. ``TinyNoPixels-v0`` cannot render; ``TinyDiscrete-v0`` has a
Discrete action space. None of them reports its own success, so the state match decides.
"""

from types import SimpleNamespace

import gymnasium as gym
import numpy as np

SIZE = 16


class TinyDot(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, render_mode=None, width=SIZE, height=SIZE, speed=0.05):
        self.render_mode, self.width, self.height, self.speed = render_mode, int(width), int(height), float(speed)
        self.action_space = gym.spaces.Box(-2.0, 2.0, (2,), np.float32)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (4,), np.float64)
        self.data = SimpleNamespace(qpos=np.zeros(2), qvel=np.zeros(2))

    def set_state(self, qpos, qvel):
        self.data.qpos[:] = qpos
        self.data.qvel[:] = qvel

    def _obs(self):
        return np.concatenate([self.data.qpos, self.data.qvel])

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.set_state(self.np_random.uniform(0.2, 0.8, 2), np.zeros(2))
        return self._obs(), {}

    def step(self, action):
        self.data.qvel[:] = np.clip(action, -2, 2) * self.speed
        self.data.qpos[:] = np.clip(self.data.qpos + self.data.qvel, 0.0, 1.0)
        return self._obs(), 0.0, False, False, {}

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        image = np.zeros((self.height, self.width, 3), np.uint8)
        x, y = np.round(self.data.qpos * [self.width - 3, self.height - 3]).astype(int)
        image[y:y + 3, x:x + 3] = 255
        return image


class TinyNoPixels(TinyDot):
    metadata = {"render_modes": []}

    def __init__(self, render_mode=None):
        if render_mode is not None:
            raise TypeError("no rendering")
        super().__init__()


class TinyDiscrete(TinyDot):
    def __init__(self, render_mode=None, width=SIZE, height=SIZE):
        super().__init__(render_mode, width, height)
        self.action_space = gym.spaces.Discrete(4)


for _id, _cls in (("TinyDot-v0", TinyDot), ("TinyNoPixels-v0", TinyNoPixels), ("TinyDiscrete-v0", TinyDiscrete)):
    if _id not in gym.registry:
        gym.register(_id, entry_point=f"{__name__}:{_cls.__name__}", max_episode_steps=50)
