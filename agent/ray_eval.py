"""``lewm-eval --ray [ADDRESS]``: the groups of a run's episodes as jobs on a Ray cluster, merged as a local run's.

A job is one group of ``--max-envs`` episodes (default :data:`RAY_GROUP`) of one (task, suite, planner) run: the
worker builds the agent from the same checkpoint and settings, draws the run's start/goal pairs with the run's seed
and plays its group with the planner seeded by :func:`agent.evaluation.seed_group`, exactly as a local run with the
same ``--max-envs`` plays that group; so the per-episode outcomes are the local run's. Ray re-runs a job whose
worker died (``max_retries``); jobs that finished are kept. Workers read the checkpoint and held-out files at the
paths the driver sees (a cluster needs them on a shared file system).
"""
from __future__ import annotations

import math
import time
from dataclasses import replace

RAY_GROUP = 10  # episodes per job when --max-envs is not given
MAX_RETRIES = 3  # re-runs of a job whose worker process died


def group_job(args, task: str, folder: str, eval_data, suite: str, label: str, agent_kwargs: dict, group: int,
              group_size: int, threads=None):
    """One job (in a Ray worker, or here): group ``group`` of one run -> its ``RunResult``.

    ``threads``: torch's thread count on the driver (a count changes the float sums, and so can change a plan):
    set here, so the job computes as the local run does; ``"auto"``: tuned by timing, as the local run does.
    """
    import torch

    from agent.evaluation import evaluate
    from agent.agent import make_agent

    if isinstance(threads, int):
        torch.set_num_threads(threads)
    agent = make_agent(folder, device=args.device, task=task, **agent_kwargs)
    if threads == "auto":
        from agent.thread_tuner import apply_threads

        apply_threads(agent, "auto")
    return evaluate(task, suite, agent, args.episodes, seed=args.seed, eval_data=eval_data, budget=args.budget,
                    planner_name=label, progress=False, tolerance=args.tolerance, nontrivial=args.nontrivial,
                    max_envs=group_size, only_group=group)


def merge_groups(parts: list, wall_seconds: float):
    """The groups' ``RunResult`` (in group order) -> one ``RunResult``, as a local run returns it."""
    return replace(parts[0], episodes=[e for p in parts for e in p.episodes],
                   plan_seconds=[s for p in parts for s in p.plan_seconds],
                   plan_batch_sizes=[b for p in parts for b in p.plan_batch_sizes], wall_seconds=wall_seconds,
                   settings={**parts[0].settings, "ray_jobs": len(parts)})


def ray_run(args, task: str, folder, eval_data, suite: str, label: str, agent_kwargs: dict, threads=None,
            num_cpus: float | None = None, num_gpus: float = 0.0):
    """One run, its groups spread over Ray (``args.ray``: the cluster address, ``"local"`` for a local instance);
    returns the merged ``RunResult``. ``threads``: see :func:`group_job`; each job asks for ``num_cpus`` CPUs
    (default: its thread count) and ``num_gpus`` GPUs."""
    import ray

    if not ray.is_initialized():
        ray.init(address=None if args.ray == "local" else args.ray, include_dashboard=False, log_to_driver=False)
    if num_cpus is None:
        num_cpus = threads if isinstance(threads, int) else 1
    job = ray.remote(group_job).options(num_cpus=num_cpus, num_gpus=num_gpus, max_retries=MAX_RETRIES)
    group_size = args.max_envs or RAY_GROUP
    start = time.perf_counter()
    refs = [job.remote(args, task, str(folder), eval_data, suite, label, agent_kwargs, g, group_size, threads)
            for g in range(math.ceil(args.episodes / group_size))]
    parts = ray.get(refs)
    fits = min(p.settings.get("envs_at_once", group_size) for p in parts)
    if fits < min(group_size, args.episodes):
        from common.cli_errors import UserInputError

        raise UserInputError(f"a Ray worker fits only {fits} envs in memory, not the {group_size} of a job; pass "
                             f"--max-envs {fits}")
    return merge_groups(parts, time.perf_counter() - start)
