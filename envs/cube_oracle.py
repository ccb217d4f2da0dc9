"""The cube data policy: OGBench's scripted pick-and-place oracle, driven the way OGBench collects its play data.

``ogbench.manipspace.oracles.plan.cube_plan.CubePlanOracle`` plans a pick of the cube and a place at a random
target, follows the plan with temporally correlated noise (OGBench's play data: noise 0.1, smoothing 0.5), and
says when it is done; then the env draws a new random target (``set_new_target``) and the oracle plans again. The
target is the env's hidden mocap marker: it never shows in the images.

The oracle draws from numpy's global generator; this policy swaps in its own generator state around each call,
so an episode is reproducible from its seed and nothing else in the process is disturbed.
"""

from __future__ import annotations

import contextlib

import numpy as np


class CubeOraclePolicy:
    """OGBench's ``CubePlanOracle`` as a data policy for ``lewm/Cube-v0``.

    Args:
        env: the (unwrapped) ``envs.cube.CubeEnv`` being collected from; the oracle reads its controller constants
            and the policy asks it for new targets.
        rng: the generator that makes the episode reproducible.
        noise, noise_smoothing: OGBench's plan noise (action-units std) and its Gaussian smoothing (env steps).
    """

    name = "oracle"
    tasks: tuple[str, ...] | None = ("cube",)
    noise = 0.1  # OGBench's play data
    noise_smoothing = 0.5

    def __init__(self, env, rng: np.random.Generator, noise: float | None = None,
                 noise_smoothing: float | None = None):
        noise = self.noise if noise is None else noise
        noise_smoothing = self.noise_smoothing if noise_smoothing is None else noise_smoothing
        from ogbench.manipspace.oracles.plan.cube_plan import CubePlanOracle

        if not hasattr(env, "set_new_target"):
            raise ValueError("the oracle policy needs the cube env (lewm/Cube-v0)")
        self.env = env
        self._state = np.random.RandomState(int(rng.integers(2**31))).get_state()
        self.oracle = CubePlanOracle(env=env, noise=noise, noise_smoothing=noise_smoothing)
        self._planned = False

    @contextlib.contextmanager
    def _own_random_state(self):
        outside = np.random.get_state()
        np.random.set_state(self._state)
        try:
            yield
        finally:
            self._state = np.random.get_state()
            np.random.set_state(outside)

    def __call__(self, obs=None, info=None) -> np.ndarray:
        """Returns the next action, float32 (5,); needs OGBench's observation info (``info`` of ``lewm/Cube-v0``)."""
        if info is None or "privileged/target_block_pos" not in info:
            raise ValueError("the oracle policy needs OGBench's observation info: call it as policy(obs, info) "
                             "with the info of lewm/Cube-v0")
        with self._own_random_state():
            if not self._planned or self.oracle.done:
                if self._planned:  # a pick and place finished: a new random target, as OGBench's play data
                    self.env.set_new_target(return_info=False)
                    info = self.env.compute_ob_info()
                self.oracle.reset(obs, info)
                self._planned = True
            action = self.oracle.select_action(obs, info)
        return np.clip(action, -1.0, 1.0).astype(np.float32)


class WideCubeOraclePolicy(CubeOraclePolicy):
    """The same pick-and-place oracle with three times the play noise (0.3): grasps that slip, reaches that
    overshoot and recover. Mixed with ``oracle`` data it covers the states a planner's own mistakes lead to,
    which the play data visits rarely."""

    name = "oracle_wide"
    noise = 0.3


class MarkovCubeOraclePolicy(CubeOraclePolicy):
    """OGBench's other cube oracle, ``CubeMarkovOracle``: no plan, a phase read off the current state each step
    (above the cube, down, grasp, up, over the target, down, release, away) with proportional gains, plus
    Gaussian action noise (``noise``, action units, independent per step). Its motions differ from the plan
    oracle's smooth planned paths: evaluation pairs drawn from it test a model on a data policy it never saw."""

    name = "oracle_markov"
    noise = 0.1

    def __init__(self, env, rng: np.random.Generator, noise: float | None = None,
                 noise_smoothing: float | None = None):
        from ogbench.manipspace.oracles.markov.cube_markov import CubeMarkovOracle

        if not hasattr(env, "set_new_target"):
            raise ValueError("the oracle_markov policy needs the cube env (lewm/Cube-v0)")
        self.env = env
        self.action_noise = self.noise if noise is None else noise
        self._state = np.random.RandomState(int(rng.integers(2**31))).get_state()
        self.oracle = CubeMarkovOracle(env=env)
        self._planned = False

    def __call__(self, obs=None, info=None) -> np.ndarray:
        """Returns the next action, float32 (5,); needs OGBench's observation info (``info`` of ``lewm/Cube-v0``)."""
        action = super().__call__(obs, info)
        with self._own_random_state():
            action = action + np.random.normal(0.0, self.action_noise, size=action.shape)
        return np.clip(action, -1.0, 1.0).astype(np.float32)
