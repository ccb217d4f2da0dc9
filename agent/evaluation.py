"""Evaluation protocols: start/goal pairs, batched episodes, success statistics.

Two suites (DESIGN.md, "Evaluation protocol"):

- ``lewm``: the LeWM paper's protocol. A start is a state of a held-out trajectory of the data-collection policy,
  the goal the state ``goal_offset`` (25) env steps later on the same trajectory; budget 50 env steps.
- ``free``: the task's ``free_pair``: a random start and an independent random reachable goal (reacher,
  pointmass, tworoom), or the task's own target (pusht: gym-pusht's target pose, success by coverage, the env
  built with the task's ``free_env_kwargs``; cube: OGBench's five tasks); budget: the task's ``free_budget`` env
  steps (``envs.task_spec(name).defaults``).

All episodes of a run are stepped together and planned as one batch; an env leaves the batch when it succeeds.
The final error of an episode is in the task's unit (``error_unit``): the largest wrapped joint-angle error in
rad for reacher, the Euclidean distance to the goal position in metres for the position tasks (pointmass,
tworoom). A summary also counts the episodes whose start was already within the success tolerance of the goal
("trivial starts": the LeWM protocol on random-policy data gives such pairs) and the task's own measures
(``report_metrics``, ``envs.task.Task``): numbers averaged over the episodes, and for each group a task tags
(tworoom: goals in the other room) its episodes and the success on those.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
from tqdm import tqdm

from agent.episode_end import step_end

SUITES = ("lewm", "free")  # each task's budgets: envs.task_spec(name).defaults (envs.task.TaskDefaults)
# A run's "subgoals" setting by the agent's high level (``Agent.waypoints``; a waypoint graph, or none: None), as
# planning.json names it (agent.planner_choice.SETTINGS)
HIGH_LEVELS = {"ValueSubgoals": "value", "SubgoalPolicy": "learned"}


def suite_budget(task: str, suite: str) -> int:
    """Env steps per episode of a suite for a task (``TaskDefaults.budget``): the LeWM protocol's 50 for ``lewm``,
    the task's ``free_budget`` for ``free``."""
    import envs

    return int(envs.task_spec(task).defaults.budget(suite))


def goal_error(info: dict) -> float:
    """One number for how far an env is from its goal, in the task's unit: ``info["distance"]`` (metres) when the
    env reports one (position tasks), else the largest per-coordinate ``info["error"]`` (reacher: rad)."""
    if info.get("distance") is not None:
        return float(info["distance"])
    return float(np.max(info["error"]))


@dataclass
class Pair:
    """One episode's start state (qpos then qvel) and goal configuration (qpos)."""

    start: np.ndarray
    goal: np.ndarray


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval for a success rate (bounds in [0, 1])."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def lewm_pairs(dataset_path, episodes: int, goal_offset: int = 25, seed: int = 0, keep=None) -> list[Pair]:
    """Start/goal pairs from held-out trajectories: a random row, and the row ``goal_offset`` steps later.

    Rows are drawn uniformly among those with ``step <= ep_len - goal_offset - 1`` (le-wm's rule), with
    ``np.random.default_rng(seed)``. The dataset must have ``qpos`` and ``qvel`` columns. ``keep``: a test
    ``keep(pair) -> bool``; then rows are drawn in a random order until ``episodes`` pairs pass it (or the rows run
    out: fewer pairs).
    """
    import h5py

    from common.cli_errors import UserInputError

    try:
        with h5py.File(dataset_path, "r") as f:
            for col in ("qpos", "qvel", "ep_len", "ep_offset"):
                if col not in f:
                    raise UserInputError(f"{dataset_path} has no {col!r} column; the LeWM protocol needs states")
            ep_len, ep_offset = f["ep_len"][:], f["ep_offset"][:]
            qpos, qvel = f["qpos"][:].astype(np.float64), f["qvel"][:].astype(np.float64)
    except OSError as exc:  # h5py: not HDF5, truncated, or unreadable data
        raise UserInputError(f"cannot read held-out trajectories {dataset_path}: {str(exc).splitlines()[0]}; "
                             f"collect them again with lewm-collect") from None
    if keep is None:
        chosen = lewm_pair_rows(ep_len, ep_offset, episodes, goal_offset, seed)
        return [Pair(np.concatenate([qpos[r], qvel[r]]), qpos[r + goal_offset]) for r in chosen]
    pairs = []
    for r in lewm_pair_rows(ep_len, ep_offset, None, goal_offset, seed):
        pair = Pair(np.concatenate([qpos[r], qvel[r]]), qpos[r + goal_offset])
        if keep(pair):
            pairs.append(pair)
            if len(pairs) == episodes:
                break
    return pairs


def lewm_pair_rows(ep_len: np.ndarray, ep_offset: np.ndarray, episodes: int | None, goal_offset: int = 25,
                   seed: int = 0) -> np.ndarray:
    """The dataset rows of the start states ``lewm_pairs`` draws (its goals are ``goal_offset`` rows later);
    ``episodes=None``: every eligible row, in a random order."""
    rows = np.concatenate([off + np.arange(max(0, n - goal_offset)) for off, n in zip(ep_offset, ep_len)])
    if len(rows) == 0:
        raise ValueError(f"no episode is longer than the goal offset {goal_offset}")
    if episodes is None:
        return np.random.default_rng(seed).permutation(rows)
    return np.random.default_rng(seed).choice(rows, size=episodes, replace=len(rows) < episodes)


def free_pairs(env, episodes: int, seed: int = 0) -> list[Pair]:
    """The task's free-suite pairs, ``env.free_pair(rng, index)`` (``envs.task.Task``): by default a random start
    at rest and an independent random goal, or the task's own (cube: OGBench's evaluation tasks)."""
    rng = np.random.default_rng(seed)
    return [Pair(*env.free_pair(rng, i)) for i in range(episodes)]


@dataclass
class EpisodeResult:
    success: bool
    steps: int  # env steps taken (to success, to the env's own end of the episode, or the budget)
    final_error: float  # goal_error at the end, task units (reacher: max joint error, rad; position tasks: m)
    trivial_start: bool = False  # the start was already within the success tolerance of the goal
    metrics: dict = field(default_factory=dict)  # the task's ``report_metrics``: numbers, and bools that tag groups
    start: list = field(default_factory=list)  # the start state (qpos then qvel): what lewm-eval --replay reruns
    goal: list = field(default_factory=list)  # the goal configuration (qpos)


@dataclass
class RunResult:
    """Outcome of one (task, suite, planner) run."""

    task: str
    suite: str
    planner: str
    episodes: list[EpisodeResult]
    plan_seconds: list[float]  # wall time of each batched replan
    plan_batch_sizes: list[int]  # envs planned together in each replan
    budget: int
    wall_seconds: float
    settings: dict = field(default_factory=dict)
    error_unit: str = ""  # unit of final_error: "rad" (reacher), "m" (position tasks)

    def summary(self) -> dict:
        n = len(self.episodes)
        k = sum(e.success for e in self.episodes)
        lo, hi = wilson_interval(k, n)
        steps = [e.steps for e in self.episodes if e.success]
        per_env = [s / b for s, b in zip(self.plan_seconds, self.plan_batch_sizes) if b]
        nontrivial = [e for e in self.episodes if not e.trivial_start]
        return {
            "task": self.task, "suite": self.suite, "planner": self.planner, "episodes": n, "successes": k,
            "success_rate": k / n if n else float("nan"), "ci95": [lo, hi],
            "mean_steps_to_success": float(np.mean(steps)) if steps else None,
            "median_final_error": float(np.median([e.final_error for e in self.episodes])) if n else None,
            "error_unit": self.error_unit,
            # Episodes whose start already met the success criterion, and the success on the others.
            "trivial_starts": n - len(nontrivial),
            "nontrivial_successes": sum(e.success for e in nontrivial),
            # The task's own measures (report_metrics): numbers averaged over the episodes (pusht: coverage), and
            # for each group a task tags (tworoom: cross_room, goals in the other room) the success on it.
            "metrics": _mean_metrics(self.episodes),
            "groups": _groups(self.episodes),
            "plan_seconds_per_replan": float(np.mean(self.plan_seconds)) if self.plan_seconds else None,
            "plan_seconds_per_env_replan": float(np.mean(per_env)) if per_env else None,
            # All replans' wall time over the episodes they served: the planning cost of one episode.
            "plan_seconds_per_episode": float(np.sum(self.plan_seconds) / n) if n else None,
            "plans_per_episode": float(np.sum(self.plan_batch_sizes) / n) if n else None,
            "replans": len(self.plan_seconds), "budget": self.budget, "wall_seconds": self.wall_seconds,
            "settings": self.settings,
        }


def _is_tag(value) -> bool:
    return isinstance(value, (bool, np.bool_))


def _mean_metrics(episodes: list[EpisodeResult]) -> dict:
    """Each numeric ``report_metrics`` entry averaged over the episodes that report it."""
    names = sorted({k for e in episodes for k, v in e.metrics.items() if not _is_tag(v)})
    return {k: float(np.mean([e.metrics[k] for e in episodes if k in e.metrics])) for k in names}


def _groups(episodes: list[EpisodeResult]) -> dict:
    """For each tag (a bool ``report_metrics`` entry): the episodes it marks, their successes, the success rate
    and its 95 % interval (None without such episodes)."""
    out = {}
    for name in sorted({k for e in episodes for k, v in e.metrics.items() if _is_tag(v)}):
        tagged = [e for e in episodes if e.metrics.get(name)]
        k = sum(e.success for e in tagged)
        out[name] = {"episodes": len(tagged), "successes": k,
                     "success_rate": k / len(tagged) if tagged else None,
                     "ci95": list(wilson_interval(k, len(tagged))) if tagged else None}
    return out


def run_episodes(make_env, agent, pairs: list[Pair], budget: int, progress: bool = True,
                 desc: str = "episodes", frames_out: list | None = None
                 ) -> tuple[list[EpisodeResult], list[float], list[int]]:
    """Runs every pair as one env, all stepped together and planned as one batch.

    Args:
        make_env: builds one (unwrapped) env of the task.
        agent: an :class:`agent.Agent`; it is reset here.
        pairs: start/goal pairs, one per episode.
        budget: env steps per episode; an episode ends early on success, or as a failure when the env ends it
            without success (a gymnasium env that terminates when the robot falls).
        frames_out: a list to extend with each episode's ``{"frames": [uint8 (H, W, 3), ...], "goal": image}``
            (in ``pairs`` order), for videos; None (default) keeps no frames.

    Returns:
        Per-episode results (in ``pairs`` order), the wall time of each replan, and the batch size of each.
    """
    envs_, obs, goals, trivial, start_infos = [], [], [], [], []
    for pair in tqdm(pairs, desc=f"{desc}: setting up", unit="env", disable=not progress, leave=False):
        env = make_env()
        o, info = env.reset(options={"state": pair.start, "goal_state": pair.goal})
        envs_.append(env)
        obs.append(o)
        goals.append(info["goal"])
        trivial.append(bool(env.is_success(np.asarray(pair.start)[: env.nq], pair.goal)))
        start_infos.append(info)
    frames = [[o] for o in obs] if frames_out is not None else None
    agent.reset()
    agent.success_qpos = tuple(getattr(envs_[0], "success_qpos", ()))  # what this suite's success test reads
    agent.set_goal(np.stack(goals))
    agent.plan_seconds.clear()
    batch_sizes: list[int] = []
    active = list(range(len(pairs)))
    results: list[EpisodeResult | None] = [None] * len(pairs)
    last_error = [float("inf")] * len(pairs)
    metrics: list[dict] = [envs_[i].report_metrics(start_infos[i], start_infos[i]) for i in range(len(pairs))]
    bar = tqdm(total=budget, desc=desc, unit="step", disable=not progress, leave=False)
    for step in range(1, budget + 1):
        n_plans = len(agent.plan_seconds)
        actions = agent.act(np.stack([obs[i] for i in active]))
        if len(agent.plan_seconds) > n_plans:
            batch_sizes.append(len(active))
        still = []
        for row, i in enumerate(active):
            o, _, terminated, truncated, info = envs_[i].step(actions[row])
            obs[i], last_error[i] = o, goal_error(info)
            if frames is not None:
                frames[i].append(o)
            metrics[i] = envs_[i].report_metrics(start_infos[i], info)
            ended, success = step_end(terminated, truncated, info)  # a termination alone is not a success
            if ended:
                results[i] = EpisodeResult(success, step, last_error[i], trivial[i], metrics[i],
                                           *_pair_lists(pairs[i]))
            else:
                still.append(row)
        if len(still) < len(active):
            agent.keep(still)
            active = [active[r] for r in still]
        bar.update()
        bar.set_postfix(active=len(active), success=sum(r is not None for r in results))
        if not active:
            break
    bar.close()
    for i in active:
        results[i] = EpisodeResult(False, budget, last_error[i], trivial[i], metrics[i],
                                   *_pair_lists(pairs[i]))
    for env in envs_:
        env.close()
    if frames is not None:
        frames_out.extend({"frames": f, "goal": g} for f, g in zip(frames, goals))
    return results, list(agent.plan_seconds), batch_sizes


def _pair_lists(pair: Pair) -> tuple[list, list]:
    """A pair's start and goal as plain float lists (JSON)."""
    return [float(v) for v in np.ravel(pair.start)], [float(v) for v in np.ravel(pair.goal)]


def task_env_factory(agent, task: str, suite: str, tolerance: float | None = None):
    """``make_env()`` for one suite of one task, built as the agent's checkpoint was trained (the free suite with
    the task's ``free_env_kwargs``, e.g. Push-T's coverage success)."""
    import envs
    from agent.pretrained import make_task_env

    spec = envs.task_spec(task)
    task_kwargs = dict(spec.free_env_kwargs) if suite == "free" else {}
    return lambda: make_task_env(agent, spec.name, tolerance, task_kwargs)


GROUP_SEED_STRIDE = 7919  # group g of a run plans with seed + g * stride (group 0: the run's seed itself)


def seed_group(agent, seed: int, group: int) -> None:
    """Re-seeds the planner before a group of episodes, so each group's outcomes depend on the run's seed and the
    group's index alone, not on the groups or runs before it: the same group run elsewhere (a ``lewm-eval --ray``
    job, ``--replay``) plans with the same noise."""
    agent.planner.reset(seed=int(seed) + GROUP_SEED_STRIDE * int(group))


def evaluate(task: str, suite: str, agent, episodes: int, seed: int = 0, eval_data=None, budget: int | None = None,
             planner_name: str = "", progress: bool = True, tolerance: float | None = None,
             nontrivial: bool = False, max_envs: int | None = None, frames_out: list | None = None,
             only_group: int | None = None) -> RunResult:
    """Runs one suite of one task with one agent; ``budget`` defaults to :func:`suite_budget`. ``tolerance``: the
    state-match tolerance of a user's gymnasium env (its qpos units; None: the env's default). ``nontrivial``: the
    lewm suite draws only pairs whose start is not already a success (cube: a third of them). ``max_envs``: envs
    stepped and planned together (None: all episodes, or as many as fit in memory, ``agent.env_memory``).
    ``frames_out``: a list to extend with each episode's frames and goal image (:func:`run_episodes`). ``seed``
    draws the pairs and seeds the planner of each group (:func:`seed_group`). ``only_group``: run that group of
    ``max_envs`` episodes only (a ``lewm-eval --ray`` job): the result holds its episodes, in pair order."""
    from agent.env_memory import group_size

    import envs
    from agent.pretrained import make_task_env

    spec = envs.task_spec(task)
    budget = budget or suite_budget(spec.name, suite)

    task_kwargs = dict(spec.free_env_kwargs) if suite == "free" else {}

    def make_env():
        return make_task_env(agent, spec.name, tolerance, task_kwargs)

    probe = make_env()
    error_unit = probe.error_unit
    if suite == "lewm":
        if eval_data is None:
            raise ValueError("the lewm suite needs held-out trajectories: pass --eval-data FILE.h5")
        keep = (lambda pair: not probe.is_success(pair.start[: probe.nq], pair.goal)) if nontrivial else None
        pairs = lewm_pairs(eval_data, episodes, spec.defaults.lewm_goal_offset, seed=seed, keep=keep)
    if suite == "free":
        pairs = free_pairs(probe, episodes, seed=seed)
    group = group_size(make_env, len(pairs), max_envs)
    probe.close()
    start = time.perf_counter()
    results, plan_seconds, batch_sizes = [], [], []
    for first in range(0, len(pairs), group):
        if only_group is not None and first // group != only_group:
            continue
        seed_group(agent, seed, first // group)
        part = run_episodes(make_env, agent, pairs[first:first + group], budget, progress=progress,
                            desc=f"{spec.name}/{suite}/{planner_name}", frames_out=frames_out)
        for whole, piece in zip((results, plan_seconds, batch_sizes), part):
            whole.extend(piece)
    settings = {"receding_horizon": agent.receding_horizon, "cost": agent.cost, "seed": seed,
                "replan_steps": agent.replan_steps,
                "horizon": agent.planner.horizon, "num_samples": agent.planner.num_samples,
                "n_iters": agent.planner.n_iters, "warm_iters": agent.warm_iters, "topk": agent.planner.topk,
                "precision": agent.precision, "proposal": agent.proposal is not None,
                "substep_correlation": getattr(agent.planner, "substep_correlation", 0.0),
                "init_std": getattr(agent.planner, "init_std", None),
                "waypoints": agent.waypoints is not None,
                "subgoals": HIGH_LEVELS.get(type(agent.waypoints).__name__),
                "refine_steps": agent.refine_steps, "refine_lr": agent.refine_lr,
                "compile_rollout": bool(agent.world_model.compile_rollout),
                "success_qpos": list(agent.success_qpos or ()),
                "state_probe": getattr(agent, "state_probe", None) is not None,
                "proposal_guard": bool(getattr(agent.planner, "proposal_guard", False)),
                "nontrivial_pairs_only": bool(nontrivial and suite == "lewm"), "envs_at_once": group}
    return RunResult(spec.name, suite, planner_name, results, plan_seconds, batch_sizes, budget,
                     time.perf_counter() - start, settings, error_unit=error_unit)


def to_jsonable(run: RunResult) -> dict:
    out = run.summary()
    out["per_episode"] = [asdict(e) for e in run.episodes]
    return out
