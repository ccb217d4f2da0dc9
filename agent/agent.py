"""The MPC agent: embeds the goal once, plans in the world model's latent space, executes action blocks.

Each action block is ``frameskip`` env steps. At every block boundary the agent embeds the current frame, keeps
the last ``history_size`` embeddings and executed action blocks, and every ``receding_horizon`` blocks replans,
warm-started from the unexecuted tail of its previous plan. With ``replan_steps`` below ``frameskip`` it replans
every ``replan_steps`` env steps instead, from a history of frames one block apart ending at the current step.
Plans live in the model's normalised action units; the box [-1, 1] of the env is mapped into them, so no planned
action ever leaves the env's box.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
import torch

from agent.action_box import planner_box
from agent.episode_state import EpisodeState
from agent.images import to_rgb_frames
from agent.latent_cost import COSTS, READOUT_COSTS, VALUE_COSTS, latent_goal_cost, readout_map
from agent.goal_handling import GoalHandling
from agent.gradient_refine import refine_plan
from agent.pretrained import agent_parts
from planners import SamplingPlanner, shift_plan
from world_model import LeWM
from world_model.rollout.precision import autocast_context, resolve_precision


class Agent(GoalHandling):
    """Goal-image model-predictive control with a LeWM world model and a sampling planner.

    Args:
        world_model: a trained LeWM (put in eval mode here).
        planner: a planner whose ``action_dim`` equals the model's action block size and whose box is the env's
            box in normalised units (``Agent.planner_box(world_model)`` gives it; ``make_agent`` wires it).
        receding_horizon: action blocks executed between two plans (1 = replan every block).
        replan_steps: env steps executed between two plans when fewer than a block: a divisor of ``frameskip``
            (``None``: ``frameskip``, the block). Smaller reacts sooner at the cost of more plans; needs
            ``receding_horizon`` 1.
        cost: ``"all"`` scores the mean squared latent distance to the goal over every predicted step;
            ``"terminal"`` only the last one (the LeWM paper's cost); ``"readout"`` as "all" in the units of the
            model's state readout (models trained with ``state_lambda > 0``; see ``agent.latent_cost``);
            ``"value"`` the action blocks to the goal by the learned goal value ``value``; ``"value_far"`` the value
            while it puts the goal far, ``"min"`` once near; ``"value_readout"`` the value while far, the nearest
            predicted step in the readout's units once near (``agent.latent_cost``).
        success_qpos: the qpos indices the goal is judged by (a task's ``success_qpos``: Push-T's coverage reads the
            block's x, y and angle, 2-4; the cube task the cube's position, 14-16): the readout costs count only
            those entries, so the arm or the pusher's pose does not compete with the object's. ``None`` or empty:
            every entry. ``lewm-eval`` and ``lewm-plan`` set it from the env; the attribute may be set between
            episodes.
        state_probe: a ``world_model.policies.state_probe.StateProbe`` for the model's embeddings: the readout costs
            read the state through it instead of the model's linear state readout (finer: Push-T's block to about
            2 px against 6); ``None`` uses the linear one.
        value: a ``world_model.policies.value.GoalValue`` for the model's embeddings (needed by cost ``"value"``).
        precision: ``"fp32"``, ``"bf16"`` (the world model in bf16 while planning, CPU or CUDA), or ``"auto"``:
            bf16 where this machine runs it measurably faster (``world_model.rollout.precision``), fp32 elsewhere.
        autocast: True is the older spelling of ``precision="bf16"``.
        warm_iters: planner iterations for a warm-started replan (the first plan of an episode uses the
            planner's own ``n_iters``); ``None`` uses ``n_iters`` always. A warm start begins near the answer, so
            a few iterations refine it.
        waypoints: an ``agent.waypoints.WaypointGraph`` over the model's embeddings of its training data: far
            goals are then approached through waypoints within the latent cost's reach (see that module); or
            anything else with its ``subgoals(current (N, D), goal (N or 1, D)) -> (N, D)`` method, such as a
            learned ``world_model.policies.subgoal.SubgoalPolicy``; ``None`` plans straight at the goal.
        proposal: a ``world_model.policies.proposal.ProposalPolicy`` planning at least the planner's horizon ahead (its
            first ``horizon`` blocks are used): its plan starts each episode's first plan and is a
            candidate in every iteration of every replan, so a small budget suffices; ``None`` plans without.
        refine_steps: gradient steps on each plan the planner returns, through the differentiable world model
            (``agent.gradient_refine``); 0 (default) plans without. ``refine_lr``: their step size (normalised
            action units).
        compile_rollout: run the world model's planning rollout through ``torch.compile``
            (``world_model.rollout.compiled_rollout``): faster per replan once compiled; the first plan for each shape
            pays the compile (minutes on a cold cache). Falls back to eager, with a warning, where it fails.

    Usage::

        agent = Agent.from_pretrained("reacher")  # MPPI with the checkpoint's proposal policy
        agent.set_goal(goal_image)                # (H, W, 3) uint8, a PIL image, or a PNG/JPEG path
        action = agent.act(obs)                   # (H, W, 3) -> (A,);  (N, H, W, 3) -> (N, A)
        action = agent.act(goal_env_obs)          # {"observation", "desired_goal", ...}: the goal is read from it
        actions, _ = agent.predict(obs, episode_start=starts)   # stable-baselines3's policy interface

    Each env of a batch keeps its own history, plan and action block; ``restart(indices)`` starts a new episode
    for some envs only.
    """

    def __init__(self, world_model: LeWM, planner: SamplingPlanner, receding_horizon: int = 1,
                 cost: str = "all", autocast: bool = False, warm_iters: int | None = None, waypoints=None,
                 precision: str = "fp32", proposal=None, refine_steps: int = 0, refine_lr: float = 0.1,
                 compile_rollout: bool = False, replan_steps: int | None = None, value=None, success_qpos=None,
                 state_probe=None):
        if cost not in COSTS:
            raise ValueError(f"cost must be one of {', '.join(COSTS)}, got {cost!r}")
        if cost in VALUE_COSTS and value is None:
            raise ValueError(f"cost {cost!r} needs a goal value (value.safetensors, trained by lewm-train-value)")
        if cost in VALUE_COSTS and refine_steps:
            raise ValueError(f"gradient refinement (refine_steps) works on the latent distance costs, not {cost!r}")
        if cost in READOUT_COSTS:
            readout_map(world_model, success_qpos)  # refuses a model without a readout now, not at the first plan
        cfg = world_model.cfg
        if planner.action_dim != cfg.action_block_dim:
            raise ValueError(f"planner.action_dim is {planner.action_dim} but the model's action block has "
                             f"{cfg.action_block_dim} values (frameskip {cfg.frameskip} x {cfg.action_dim})")
        if not 1 <= receding_horizon <= planner.horizon:
            raise ValueError(f"receding_horizon must be in [1, horizon={planner.horizon}], got {receding_horizon}")
        self.world_model = world_model.eval()
        self.world_model.compile_rollout = bool(compile_rollout)
        self.planner = planner
        self.receding_horizon = int(receding_horizon)
        self.replan_steps = cfg.frameskip if replan_steps is None else int(replan_steps)
        if self.replan_steps < 1 or cfg.frameskip % self.replan_steps:
            raise ValueError(f"--replan-steps must divide the model's frameskip {cfg.frameskip}, got {replan_steps}")
        if self.replan_steps < cfg.frameskip and receding_horizon != 1:
            raise ValueError(f"--replan-steps {self.replan_steps} replans within a block: receding_horizon must be 1")
        self.cost = cost
        self.success_qpos = None if success_qpos is None else tuple(int(i) for i in success_qpos)
        self.device = next(world_model.parameters()).device
        self.precision = resolve_precision("bf16" if autocast else precision, self.device)
        if warm_iters is not None and warm_iters < 1:
            raise ValueError(f"warm_iters must be at least 1, got {warm_iters}")
        self.warm_iters = warm_iters
        if refine_steps < 0 or not 0 < refine_lr < float("inf"):
            raise ValueError(f"refine_steps must be >= 0 and refine_lr a finite number > 0, got {refine_steps} and "
                             f"{refine_lr}")
        self.refine_steps, self.refine_lr = int(refine_steps), float(refine_lr)
        self._box = tuple(b.to(self.device) for b in self.planner_box(world_model))
        self.waypoints = waypoints
        self.proposal = None if proposal is None else proposal.to(self.device).eval()
        self.value = None if value is None else value.to(self.device).eval()
        self.state_probe = None if state_probe is None else state_probe.to(self.device).eval()
        self.frameskip, self.action_dim = cfg.frameskip, cfg.action_dim
        self.image_size, self.history_size = cfg.image_size, cfg.history_size
        self.task = cfg.task
        self._goal_cache: dict[str, torch.Tensor] = {}
        self._goal: torch.Tensor | None = None  # (1 or N, D)
        self._goal_keys: tuple[str, ...] | None = None  # fingerprints of the dict goal the current goal came from
        # Wall time of each replan, from embedding the observation to the plan (s): the agent's decision latency.
        self.plan_seconds: list[float] = []
        self.thread_tuner = None  # an agent.thread_tuner.ThreadTuner: CPU thread count chosen by measurement
        self._embed_seconds = 0.0
        self.reset()

    # ----------------------------------------------------------------- construction
    planner_box = staticmethod(planner_box)  # (world_model) -> (low, high): see agent.action_box

    @classmethod
    def from_pretrained(cls, name_or_dir: str, planner: str | SamplingPlanner = "auto", device: str = "auto",
                        **kwargs) -> "Agent":
        """Loads a shipped model by name (``"reacher"``) or a checkpoint folder, with a planner by name.

        Keyword arguments are :func:`make_agent`'s (planner settings such as ``num_samples``, ``n_iters``,
        ``horizon``, ``seed``; agent settings such as ``receding_horizon``, ``cost``); the loading is
        :func:`agent.pretrained.agent_parts`. ``planner_name`` tells what ``"auto"`` resolved to, for reports.
        """
        parts, name = agent_parts(name_or_dir, planner=planner, device=device, **kwargs)
        agent = cls(**parts)
        agent.planner_name = name
        return agent

    # ----------------------------------------------------------------- episode state
    def reset(self) -> None:
        """Starts a new episode for every env: clears the history, plans and warm starts (keeps the goal), and
        whatever the high level (``waypoints``) remembers of the last episodes."""
        self._state: EpisodeState | None = None  # created for the batch size of the next act
        if hasattr(self.waypoints, "reset"):
            self.waypoints.reset()

    def restart(self, indices) -> None:
        """Starts a new episode for the envs ``indices`` of the current batch only: their history, warm start and
        current action block are dropped, the other envs go on undisturbed. A restarted env starts its next block
        at once, so from then on envs may plan at different steps, in separate planner calls."""
        if self._state is not None:
            self._state.restart(indices)

    def keep(self, indices) -> None:
        """Keeps only the envs ``indices`` of a batch (e.g. drop envs whose episode ended); their goals, history,
        plan and current action block stay as they were."""
        if self._goal is not None and self._goal.shape[0] > 1:
            self._goal = self._goal.index_select(0, torch.as_tensor(np.asarray(indices, dtype=np.int64),
                                                                    device=self._goal.device))
            self._goal_keys = None
        if self._state is not None:
            self._state.keep(indices)

    def _hist_len(self) -> int:
        """History entries one block apart that the batch holds (0 before the first act)."""
        return 0 if self._state is None else int(self._state.blocks_held(np.arange(self._state.n)).max(initial=0))

    # Inspection (tests): (N, Th, D) history embeddings, (N, Th-1, A_block) actions between them, (N, H, A_block)
    # last plans, (N, D) what the last plans aimed at with waypoints; None before there is one.
    _z_hist = property(lambda self: None if self._hist_len() == 0 else
                       self._state.history(np.arange(self._state.n), self._hist_len())[0])
    _a_hist = property(lambda self: None if self._hist_len() <= 1 else
                       self._state.history(np.arange(self._state.n), self._hist_len())[1])
    _plan = property(lambda self: None if self._state is None else self._state.plan)
    _target = property(lambda self: None if self._state is None else self._state.target)

    # ----------------------------------------------------------------- acting
    def act(self, obs) -> np.ndarray:
        """Returns the next env action for one observation (H, W, 3) -> (A,), or a batch (N, H, W, 3) -> (N, A).

        A batch is planned in one planner call. Observations are resized and converted like goals. A goal-env
        dict ``{"observation", "desired_goal", ...}`` (values single or batched) plans on ``observation`` towards
        ``desired_goal``: the goal is set when it changes, and an env whose goal changes starts a new episode.
        """
        obs = self._read_goal_dict(obs)
        if self._goal is None:
            raise RuntimeError("no goal: call agent.set_goal(goal_image) before agent.act(obs)")
        frames = to_rgb_frames(obs, self.image_size)
        single = frames.ndim == 3
        frames = frames[None] if single else frames
        n = frames.shape[0]
        if self._goal.shape[0] not in (1, n):
            raise ValueError(f"{self._goal.shape[0]} goals were set for {n} observations")
        if self._state is None or self._state.n != n:
            self._state = EpisodeState(n, self.history_size, self.planner.horizon, self.planner.action_dim,
                                       self.frameskip, self.action_dim, self.device, self.replan_steps)
        state = self._state
        due = state.due()
        if due.size:
            self._start_ticks(frames[due], due)
        action = state.queue[np.arange(n), state.queue_pos]
        state.queue_pos += 1
        return action[0] if single else action

    def predict(self, observation, state=None, episode_start=None, deterministic: bool = True):
        """stable-baselines3's policy interface: ``actions, state = agent.predict(obs, state, episode_start)``.

        Args:
            observation: as :meth:`act` takes it: an image, a batch, or a goal-env dict of either.
            state: ignored (the agent keeps its own); the returned state is always None.
            episode_start: None, a bool, or (N,) bools as stable-baselines3 passes them: each env marked starts a
                new episode (all marked: :meth:`reset`; some: :meth:`restart` of those).
            deterministic: ignored; the planner's own seed decides its samples.
        """
        if episode_start is not None:
            starts = np.asarray(episode_start, dtype=bool).reshape(-1)
            if starts.all():
                self.reset()
            elif starts.any() and self._state is not None and starts.size == self._state.n:
                self._state.restart(np.flatnonzero(starts))
        return self.act(observation), None

    def _start_ticks(self, frames: np.ndarray, rows: np.ndarray) -> None:
        """Starts the next tick (action block, or ``replan_steps`` env steps) of the envs ``rows`` (k,) from their
        frames (k, S, S, 3): embeds them, extends the histories, replans where due, and queues the raw actions."""
        state = self._state
        started = time.perf_counter()
        state.push(self._embed(frames), rows)
        self._embed_seconds = time.perf_counter() - started  # counted in the next replan's time (see plan_seconds)
        stale = ~state.warm[rows] | (state.ticks_done[rows] >= self.receding_horizon)  # a tick, or whole blocks
        if stale.any():
            self._replan(rows[stale])
        idx = state.rows(rows)
        chunk = state.next_chunk(rows)  # (k, replan_steps * A) normalised
        raw = self.world_model.denormalize_actions(chunk).clamp(-1.0, 1.0)
        state.last_chunk[idx] = self.world_model.normalize_actions(raw)
        state.queue[rows] = raw.reshape(len(rows), state.replan_steps, self.action_dim).cpu().numpy()
        state.queue_pos[rows] = 0

    def _replan(self, rows: np.ndarray) -> None:
        """Plans for ``rows``: one planner call per group of envs with the same history length and warm start
        (a single group while the envs go in lockstep)."""
        state = self._state
        warm = state.warm[rows]
        groups = np.stack([state.blocks_held(rows), warm, np.where(warm, state.ticks_done[rows], 0)], 1)
        for key in np.unique(groups, axis=0):
            self._plan_group(rows[(groups == key).all(1)], int(key[0]), bool(key[1]), int(key[2]))

    def _plan_group(self, rows: np.ndarray, th: int, warm: bool, shift: int) -> None:
        """One planner call for ``rows``, whose histories hold ``th`` frames one block apart; warm-started from
        their plans shifted by ``shift`` executed ticks when ``warm``."""
        state = self._state
        idx = state.rows(rows)
        z_hist, a_hist = state.history(rows, th)
        target = self._goal if self._goal.shape[0] == 1 else self._goal[idx]
        init = None
        if warm:  # shifted by env steps: a tick may be part of a block
            plan = state.plan[idx]
            init = shift_plan(plan.reshape(len(rows), -1, self.action_dim), shift * state.replan_steps).view_as(plan)
        n_iters = self.planner.n_iters
        if warm and self.warm_iters is not None:
            self.planner.n_iters = self.warm_iters
        tune = self.thread_tuner is not None and warm and self.device.type == "cpu"
        if tune:  # warm replans only: an episode's first runs more iterations
            self.thread_tuner.before_plan()
        planned = time.perf_counter()
        start = planned - self._embed_seconds  # a decision starts with embedding the observation
        self._embed_seconds = 0.0
        if self.waypoints is not None:
            target = self.waypoints.subgoals(z_hist[:, -1], target).to(self.device)
            state.set_target(rows, target)
        proposals = None
        if self.proposal is not None:
            # (k, H, A_block); a policy that plans further ahead than the planner gives its first H blocks
            proposed = self.proposal.propose(z_hist, target)[:, : self.planner.horizon]
            init = init if warm else proposed
            proposals = proposed[:, None]
        try:
            result = self.planner.plan(self._cost(z_hist, a_hist, target), batch_size=len(rows), init_mean=init,
                                       proposals=proposals)
        finally:
            self.planner.n_iters = n_iters
        plan = result.actions.to(self.device)
        if self.refine_steps:
            plan, _ = refine_plan(self.world_model, z_hist, a_hist, target, plan, *self._box, self.refine_steps,
                                  self.refine_lr, self.cost, self.success_qpos, self.state_probe)
        state.plan[idx] = plan
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.plan_seconds.append(time.perf_counter() - start)
        if tune:
            self.thread_tuner.after_plan(time.perf_counter() - planned)
        state.warm[rows], state.ticks_done[rows] = True, 0

    def cost_function(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """The planner's cost for every env's current history and goal (or waypoint, see ``waypoints``):
        candidates (B, N, H, A_block) -> (B, N). The envs' histories must have one length (no env restarted
        since the others' last ``history_size`` blocks)."""
        state = self._state
        if state is None or len(set(state.hist_len.tolist())) != 1 or state.hist_len[0] == 0:
            raise RuntimeError("cost_function needs every env's history at one length: call it after act, before "
                               "any env restarts")
        target = self._goal if state.target is None else state.target
        return self._cost(self._z_hist, self._a_hist, target)

    def _cost(self, z_hist: torch.Tensor, a_hist: torch.Tensor | None,
              target: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        """Cost for histories (B, Th, D), (B, Th-1, A_block) or None, and targets (B or 1, D)."""
        return latent_goal_cost(self.world_model, z_hist, a_hist, target, self.cost, self._autocast, self.value,
                                self.success_qpos, self.state_probe)

    @property
    def autocast(self) -> bool:
        """True when the world model runs in bf16 (``precision == "bf16"``)."""
        return self.precision == "bf16"

    def _autocast(self):
        return autocast_context(self.device, self.precision)


def make_agent(name_or_dir: str, planner="auto", device: str = "auto", receding_horizon: int = 1,
               cost: str | None = None, autocast: bool = False, warm_iters: int | None = None,
               task: str | None = None, waypoints="auto", precision: str = "auto", proposal="auto",
               refine_steps: int = 0, refine_lr: float = 0.1, compile_rollout: bool = False,
               replan_steps: int | None = None, subgoals="auto", trust_unverified: bool = False,
               value="auto", success_qpos=None, state_probe="auto", **planner_settings) -> Agent:
    """Loads a checkpoint and wires it to a planner; ``task`` (if given) must match the model's task.

    ``planner``: a name in ``planners.registry.PLANNERS``, a planner object, or ``"auto"`` (default): the
    checkpoint's measured choice (``planning.json``, see ``agent.planner_choice``), else MPPI. ``"proposal"`` needs a
    proposal policy.
    Planner settings that ``planning.json`` records apply to a planner given by name, unless given here; so does
    its ``cost`` (``None``: the checkpoint's, else ``"all"``; see ``agent.latent_cost``).

    ``waypoints``: ``"auto"`` (default) uses the checkpoint's ``waypoints.npz`` when it has one (every shipped
    model does); ``True`` requires it; a path loads that file; a ``WaypointGraph`` is used as is; ``False`` plans
    straight at the goal. ``subgoals``: the same choices for the checkpoint's ``subgoal.safetensors`` (a learned
    high level, see ``world_model.policies.subgoal``); where one is used it takes the waypoint graph's place.
    ``proposal``: the same choices for the checkpoint's ``proposal.safetensors`` (see
    ``world_model.policies.proposal``); one that plans further ahead than the planner gives its first blocks, one that
    plans fewer blocks is left out under ``"auto"``. ``precision``: ``"auto"`` (bf16 where measured faster),
    ``"bf16"`` or ``"fp32"``. Samples and
    iterations (``num_samples``, ``n_iters``, ``warm_iters``) default to ``PROPOSAL_BUDGET`` with a proposal policy,
    else ``SEARCH_BUDGET``. ``refine_steps``/``refine_lr``: gradient refinement of each plan; ``compile_rollout``:
    the rollout through ``torch.compile``; ``replan_steps``: replan within a block (all three ``Agent``).

    Integrity: the checkpoint must name its task and record its weights' SHA-256, and every companion file
    (``planning.json``, proposal, subgoal, waypoint files) must record that same digest (``model_sha256``);
    ``trust_unverified=True`` (``--trust-unverified``, for files edited by hand) turns those checks into warnings.

    ``value``: the same choices for the checkpoint's goal value ``value.safetensors`` (``world_model.policies.value``).
    Loading one changes nothing by itself: cost ``"value"`` (given here, or the checkpoint's measured choice in
    ``planning.json``) ranks plans by it; ``value=False`` with the measured cost ``"value"`` falls back to ``"all"``.
    """
    return Agent.from_pretrained(name_or_dir, planner=planner, device=device, receding_horizon=receding_horizon,
                                 cost=cost, autocast=autocast, warm_iters=warm_iters, task=task, waypoints=waypoints,
                                 precision=precision, proposal=proposal, refine_steps=refine_steps,
                                 refine_lr=refine_lr, compile_rollout=compile_rollout, replan_steps=replan_steps,
                                 subgoals=subgoals, trust_unverified=trust_unverified, value=value,
                                 success_qpos=success_qpos, state_probe=state_probe, **planner_settings)
