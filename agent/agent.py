"""The MPC agent: embeds the goal once, plans in the world model's latent space, executes action blocks.

Each action block is ``frameskip`` env steps. At every block boundary the agent embeds the current frame, keeps
the last ``history_size`` embeddings and executed action blocks, and every ``receding_horizon`` blocks replans,
warm-started from the unexecuted tail of its previous plan. Plans live in the model's normalised action units;
the box [-1, 1] of the env is mapped into them, so no planned action ever leaves the env's box.
"""

from __future__ import annotations

import hashlib
import time
from typing import Callable

import numpy as np
import torch

from agent.images import to_rgb_frames
from planners import SamplingPlanner, shift_plan
from world_model import LeWM


class Agent:
    """Goal-image model-predictive control with a LeWM world model and a sampling planner.

    Args:
        world_model: a trained LeWM (put in eval mode here).
        planner: a planner whose ``action_dim`` equals the model's action block size and whose box is the env's
            box in normalised units (``Agent.planner_box(world_model)`` gives it; ``make_agent`` wires it).
        receding_horizon: action blocks executed between two plans (1 = replan every block).
        cost: ``"all"`` scores the mean squared latent distance to the goal over every predicted step;
            ``"terminal"`` only the last one (the LeWM paper's cost).
        autocast: run the world model under bf16 autocast (CPU or CUDA) while planning.
        warm_iters: planner iterations for a warm-started replan (the first plan of an episode uses the
            planner's own ``n_iters``); ``None`` uses ``n_iters`` always. A warm start begins near the answer, so
            a few iterations refine it.
        waypoints: an ``agent.waypoints.WaypointGraph`` over the model's embeddings of its training data: far
            goals are then approached through waypoints within the latent cost's reach (see that module);
            ``None`` plans straight at the goal.

    Usage::

        agent = Agent.from_pretrained("reacher", planner="cem")
        agent.set_goal(goal_image)                # (H, W, 3) uint8, a PIL image, or a PNG/JPEG path
        action = agent.act(obs)                   # (H, W, 3) -> (A,);  (N, H, W, 3) -> (N, A)
    """

    def __init__(self, world_model: LeWM, planner: SamplingPlanner, receding_horizon: int = 1,
                 cost: str = "all", autocast: bool = False, warm_iters: int | None = None, waypoints=None):
        if cost not in ("all", "terminal"):
            raise ValueError(f"cost must be 'all' or 'terminal', got {cost!r}")
        cfg = world_model.cfg
        if planner.action_dim != cfg.action_block_dim:
            raise ValueError(f"planner.action_dim is {planner.action_dim} but the model's action block has "
                             f"{cfg.action_block_dim} values (frameskip {cfg.frameskip} x {cfg.action_dim})")
        if not 1 <= receding_horizon <= planner.horizon:
            raise ValueError(f"receding_horizon must be in [1, horizon={planner.horizon}], got {receding_horizon}")
        self.world_model = world_model.eval()
        self.planner = planner
        self.receding_horizon = int(receding_horizon)
        self.cost = cost
        self.autocast = bool(autocast)
        if warm_iters is not None and warm_iters < 1:
            raise ValueError(f"warm_iters must be at least 1, got {warm_iters}")
        self.warm_iters = warm_iters
        self.waypoints = waypoints
        self.device = next(world_model.parameters()).device
        self.frameskip, self.action_dim = cfg.frameskip, cfg.action_dim
        self.image_size, self.history_size = cfg.image_size, cfg.history_size
        self.task = cfg.task
        self._goal_cache: dict[str, torch.Tensor] = {}
        self._goal: torch.Tensor | None = None  # (1 or N, D)
        self.plan_seconds: list[float] = []
        self.reset()

    # ----------------------------------------------------------------- construction
    @staticmethod
    def planner_box(world_model: LeWM, low: float = -1.0, high: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """The env's action box [low, high]^A in the model's normalised block units: two (frameskip*A,) tensors."""
        lo = world_model.normalize_actions(torch.full((world_model.cfg.action_block_dim,), float(low)))
        hi = world_model.normalize_actions(torch.full((world_model.cfg.action_block_dim,), float(high)))
        return lo.detach().cpu(), hi.detach().cpu()

    @classmethod
    def from_pretrained(cls, name_or_dir: str, planner: str | SamplingPlanner = "cem", device: str = "auto",
                        **kwargs) -> "Agent":
        """Loads a shipped model by name (``"reacher"``) or a checkpoint folder, with a planner by name.

        Keyword arguments go to :func:`agent.pretrained.make_agent` (planner settings such as ``num_samples``,
        ``n_iters``, ``horizon``, ``seed``; agent settings such as ``receding_horizon``, ``cost``).
        """
        from agent.pretrained import make_agent

        return make_agent(name_or_dir, planner=planner, device=device, **kwargs)

    # ----------------------------------------------------------------- goals
    def _embed(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 (N, S, S, 3) -> (N, D) float32 embeddings."""
        with torch.inference_mode(), self._autocast():
            pixels = torch.from_numpy(np.require(frames, requirements=["C", "W"]))  # env frames may be read-only
            z = self.world_model.encode(pixels.to(self.device))
        return z.float()

    def set_goal(self, goal) -> None:
        """Sets the goal image: one image for every env, or a batch (N, H, W, 3) with one goal per env.

        Accepts a uint8/float array, a PIL image or a PNG/JPEG path; resized and converted to RGB as needed.
        Embeddings are cached per distinct image, so setting the same goal again costs nothing.
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
        if self._goal is None or goal.shape != self._goal.shape or not torch.equal(goal, self._goal):
            self._plan = None  # a new goal invalidates the warm start
        self._goal = goal

    # ----------------------------------------------------------------- episode state
    def reset(self) -> None:
        """Starts a new episode: clears the history, the current plan and the warm start (keeps the goal)."""
        self._z_hist: torch.Tensor | None = None  # (N, Th, D)
        self._a_hist: torch.Tensor | None = None  # (N, Th-1, A_block), normalised
        self._plan: torch.Tensor | None = None  # (N, H, A_block), normalised
        self._blocks_done = 0  # blocks of the current plan already executed
        self._queue: np.ndarray | None = None  # (N, frameskip, A) raw env actions of the current block
        self._queue_pos = 0
        self._last_block: torch.Tensor | None = None  # (N, A_block) normalised block being executed
        self._target: torch.Tensor | None = None  # (N, D) what the last plan aimed at: the goal or a waypoint

    def keep(self, indices) -> None:
        """Keeps only the envs ``indices`` of a batch (e.g. drop envs whose episode ended); their goals, history,
        plan and current action block stay as they were."""
        idx = torch.as_tensor(np.asarray(indices, dtype=np.int64), device=self.device)
        pick = lambda t: None if t is None else t.index_select(0, idx.to(t.device))  # noqa: E731
        if self._goal is not None and self._goal.shape[0] > 1:
            self._goal = pick(self._goal)
        self._z_hist, self._a_hist, self._plan = pick(self._z_hist), pick(self._a_hist), pick(self._plan)
        self._last_block, self._target = pick(self._last_block), pick(self._target)
        if self._queue is not None:
            self._queue = self._queue[np.asarray(indices, dtype=np.int64)]

    # ----------------------------------------------------------------- acting
    def act(self, obs) -> np.ndarray:
        """Returns the next env action for one observation (H, W, 3) -> (A,), or a batch (N, H, W, 3) -> (N, A).

        A batch is planned in one planner call. Observations are resized and converted like goals.
        """
        if self._goal is None:
            raise RuntimeError("no goal: call agent.set_goal(goal_image) before agent.act(obs)")
        frames = to_rgb_frames(obs, self.image_size)
        single = frames.ndim == 3
        frames = frames[None] if single else frames
        if self._queue is None or self._queue_pos >= self.frameskip:
            self._start_block(frames)
        action = self._queue[:, self._queue_pos]
        self._queue_pos += 1
        return action[0] if single else action

    def predict(self, observation, state=None, episode_start=None, deterministic: bool = True):
        """stable-baselines3-style: ``action, state = agent.predict(obs)``; ``state`` is always None.

        ``episode_start`` (bool or (N,) bools, as SB3 passes) resets the agent when every env starts anew.
        """
        if episode_start is not None and bool(np.all(episode_start)):
            self.reset()
        return self.act(observation), None

    def _start_block(self, frames: np.ndarray) -> None:
        n = frames.shape[0]
        if self._goal.shape[0] not in (1, n):
            raise ValueError(f"{self._goal.shape[0]} goals were set for {n} observations")
        z = self._embed(frames)[:, None]  # (N, 1, D)
        if self._z_hist is None or self._z_hist.shape[0] != n:
            self._z_hist, self._a_hist, self._plan = z, None, None
        else:
            self._z_hist = torch.cat([self._z_hist, z], 1)[:, -self.history_size:]
            a = self._last_block[:, None]
            self._a_hist = a if self._a_hist is None else torch.cat([self._a_hist, a], 1)
            self._a_hist = self._a_hist[:, -(self._z_hist.shape[1] - 1):] if self._z_hist.shape[1] > 1 else None
            self._blocks_done += 1
        if self._plan is None or self._blocks_done >= self.receding_horizon:
            self._replan(n)
        block = self._plan[:, self._blocks_done]  # (N, A_block) normalised
        raw = self.world_model.denormalize_actions(block).clamp(-1.0, 1.0)
        self._last_block = self.world_model.normalize_actions(raw)
        self._queue = raw.reshape(n, self.frameskip, self.action_dim).cpu().numpy().astype(np.float32)
        self._queue_pos = 0

    def _replan(self, n: int) -> None:
        init = None if self._plan is None else shift_plan(self._plan, self._blocks_done)
        n_iters = self.planner.n_iters
        if init is not None and self.warm_iters is not None:
            self.planner.n_iters = self.warm_iters
        start = time.perf_counter()
        self._target = None
        if self.waypoints is not None:
            self._target = self.waypoints.subgoals(self._z_hist[:, -1], self._goal).to(self.device)
        try:
            result = self.planner.plan(self.cost_function(), batch_size=n, init_mean=init)
        finally:
            self.planner.n_iters = n_iters
        self._plan = result.actions.to(self.device)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.plan_seconds.append(time.perf_counter() - start)
        self._blocks_done = 0

    def cost_function(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """The planner's cost for the current history and goal (or waypoint, see ``waypoints``): candidates
        (B, N, H, A_block) -> (B, N)."""
        z_hist, a_hist = self._z_hist, self._a_hist
        target = self._goal if self._target is None else self._target
        goal = target.expand(z_hist.shape[0], -1)[:, None, None]  # (B, 1, 1, D)
        terminal = self.cost == "terminal"

        def cost(candidates: torch.Tensor) -> torch.Tensor:
            with torch.inference_mode(), self._autocast():
                z = self.world_model.rollout(z_hist, a_hist, candidates.to(self.device))
            dist = (z.float() - goal).pow(2).sum(-1)  # (B, N, H)
            return dist[..., -1] if terminal else dist.mean(-1)

        return cost

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast)
