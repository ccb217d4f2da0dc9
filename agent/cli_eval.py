"""``lewm-eval``: success rates with 95 % confidence intervals, steps to success and planning time.

    lewm-eval --env reacher --suite lewm --suite free --planner cem --planner mppi --episodes 50
    lewm-eval --env reacher --suite lewm --video-failures out/failures --out out/eval   # film what failed
    lewm-eval --replay out/eval/results.json 7 --replay-run 0 --video out/ep7.mp4        # run episode 7 again
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time

from common.cli_help import essentials, help_style
from agent.cli_common import (UserInputError, add_integrity_options, add_own_env_options, add_planner_options,
                              add_removed_options, add_speed_options, add_tuning_options, budgets, check_at_least,
                              check_output_folder, check_planner_options, check_video_path,
                              integrity_settings, planner_choices, run_cli, speed_settings, waypoint_choice)


def build_parser() -> argparse.ArgumentParser:
    from agent.evaluation import SUITES

    p = argparse.ArgumentParser(**help_style("lewm-eval", __doc__), usage="lewm-eval [--env TASK ...] [--suite "
                                "lewm|free ...] [--planner NAME ...] [--episodes N] [--out DIR] [options]")
    first = essentials(p)
    first.add_argument("--env", action="append", metavar="TASK", help="task, or the gymnasium id a --checkpoint "
                       "was trained on (repeatable); default: reacher")
    first.add_argument("--suite", action="append", choices=SUITES,
                       help="protocol (repeatable): lewm (the LeWM paper's: held-out start/goal pairs, "
                            f"{budgets('lewm')} env steps), free (random reachable goals, the task's own budget); "
                            "default: both")
    first.add_argument("--checkpoint", metavar="DIR",
                       help="checkpoint folder or shipped name; default: the task's shipped model")
    first.add_argument("--eval-data", action="append", metavar="[TASK=]FILE.h5",
                       help="held-out trajectories for the lewm suite, TASK=FILE.h5 or FILE.h5 (one task); "
                            "default: the shipped model's own held-out file if present")
    first.add_argument("--episodes", type=int, default=50, metavar="N", help="episodes per task, suite and planner")
    first.add_argument("--seed", type=int, default=0, metavar="N", help="seed of the start/goal draws and the planner")
    first.add_argument("--out", default="eval_results", metavar="DIR",
                       help="folder for results.json, results.md, results.png")
    planner = p.add_argument_group("planner")
    planner.add_argument("--planner", action="append", choices=planner_choices(),
                         help="planner (repeatable); proposal: follow the checkpoint's proposal policy, no search; "
                              "default auto: the checkpoint's measured choice (planning.json), else mppi")
    add_planner_options(planner)
    protocol = p.add_argument_group("protocol")
    protocol.add_argument("--budget", type=int, metavar="N",
                          help=f"env steps per episode (default: {budgets('lewm')} for lewm; for free the task's "
                               f"own budget: {budgets('free')})")
    protocol.add_argument("--nontrivial", action="store_true", help="lewm suite: draw only start/goal pairs whose "
                          "start is not already a success (default: all pairs, the trivial ones counted in the "
                          "report)")
    output = p.add_argument_group("output")
    output.add_argument("--video-failures", metavar="DIR",
                        help="write a video of every failed episode (beside its goal image) into DIR")
    output.add_argument("--no-progress", action="store_true", help="hide progress bars")
    speed = p.add_argument_group("advanced: search speed")
    add_speed_options(speed)
    speed.add_argument("--max-envs", type=int, metavar="N", help="episodes stepped and planned together (default: "
                       "all of them, or as many as fit in memory)")
    speed.add_argument("--threads", metavar="auto|N",
                       help="CPU threads: auto (the fastest count by measurement, as lewm-plan does; the outcomes "
                            "then depend on timing), or a count; default: torch's (one per core)")
    speed.add_argument("--device", default="auto", help="auto, cpu or cuda")
    shape = p.add_argument_group("advanced: search shape")
    add_tuning_options(shape)
    shape.add_argument("--receding-horizon", type=int, default=1, metavar="N",
                       help="action blocks executed between replans")
    replay = p.add_argument_group("replay one episode")
    replay.add_argument("--replay", nargs=2, metavar=("RESULTS", "EPISODE"),
                        help="run one recorded episode again instead of evaluating: a results.json of lewm-eval and "
                             "the episode's index in its run (its start and goal states are recorded)")
    replay.add_argument("--replay-run", type=int, metavar="N",
                        help="with --replay: which run of the results.json (needed when it holds several)")
    replay.add_argument("--video", metavar="FILE",
                        help="with --replay: write the replayed episode beside its goal image to this .mp4")
    ray = p.add_argument_group("a Ray cluster")
    ray.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                     help="run each group of --max-envs episodes (default 10) of each run as a job on a Ray cluster "
                          "at ADDRESS (e.g. auto, ray://host:10001), or on a local Ray instance without one; the "
                          "per-episode outcomes are those of a local run with the same --max-envs. Needs "
                          "pip install lewm-plan[ray]")
    ray.add_argument("--ray-cpus", type=float, metavar="N", help="CPUs each --ray job asks for (default: the "
                     "threads it plans with, torch's count here or --threads)")
    ray.add_argument("--ray-gpus", type=float, default=0.0, metavar="N",
                     help="GPUs each --ray job asks for (0.5: two jobs share one)")
    add_own_env_options(p.add_argument_group("a gymnasium env of your own"))
    add_integrity_options(p.add_argument_group("checkpoint checks"))
    add_removed_options(p)
    return p


def _eval_data_for(task: str, values: list[str] | None, checkpoint_dir) -> str | None:
    from pathlib import Path

    for value in values or []:
        if "=" in value:
            name, path = value.split("=", 1)
            if name == task:
                return path
        elif len(values) == 1:
            return value
    shipped = Path(checkpoint_dir) / "heldout_states.h5"
    return str(shipped) if shipped.is_file() else None


def _check_eval_data(values: list[str] | None, tasks: list[str]) -> None:
    """``--eval-data`` names only evaluated tasks, and a bare FILE only when one task is evaluated."""
    import envs

    for value in values or []:
        if "=" in value:
            name = value.split("=", 1)[0]
            if envs.task_spec(name).name not in tasks:
                raise UserInputError(f"--eval-data {value}: task {name!r} is not evaluated (--env {' '.join(tasks)})")
        elif len(tasks) > 1 or len(values) > 1:
            raise UserInputError(f"--eval-data {value}: with several tasks, name each file's task: TASK=FILE.h5")


def _check_heldout_file(path: str, task: str) -> None:
    """The held-out file opens as a dataset and was collected on ``task`` (when it records its task)."""
    import envs
    from world_model.data.dataset import read_attrs

    recorded = str(read_attrs(path).get("env", "") or "")
    if recorded and envs.task_spec(recorded).name != task:
        raise UserInputError(f"--eval-data {path} holds trajectories of task {recorded!r}, not {task!r}; "
                             f"give a held-out file collected with lewm-collect --env {task}")


def _prepare_runs(args, tasks: list[str], suites: list[str], planners: list[str]) -> list[tuple]:
    """Loads every agent and checks every held-out file before the first episode runs: a bad checkpoint or
    file for the last task fails now, not after the first tasks' evaluations."""
    from agent.plan_memory import check_plan_memory
    from agent.agent import make_agent
    from agent.pretrained import checkpoint_for, resolve_checkpoint, resolve_device
    from agent.thread_tuner import apply_threads

    resolve_device(args.device)
    _check_eval_data(args.eval_data, tasks)
    prepared = []
    for task in tasks:
        folder = resolve_checkpoint(checkpoint_for(task, args.checkpoint), task=task)
        eval_data = _eval_data_for(task, args.eval_data, folder)
        if "lewm" in suites:
            if eval_data is None:
                raise UserInputError(f"the lewm suite for {task} needs held-out trajectories: --eval-data FILE.h5")
            _check_heldout_file(eval_data, task)
        for planner in planners:
            kwargs = dict(planner=planner, receding_horizon=args.receding_horizon, cost=args.cost,
                          **speed_settings(args), **integrity_settings(args), seed=args.seed,
                          waypoints=waypoint_choice(args))  # recorded: lewm-eval --replay rebuilds the agent
            agent = make_agent(str(folder), device=args.device, task=task, **kwargs)
            check_plan_memory(agent, batch=args.episodes)  # every episode of a run is planned together
            apply_threads(agent, args.threads)
            prepared.append((task, folder, eval_data, planner, agent, kwargs))
    return prepared


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.replay:
        return _replay(args)
    if args.video or args.replay_run is not None:
        raise UserInputError("--video and --replay-run apply with --replay only (--video-failures DIR writes the "
                             "failed episodes of an evaluation)")
    import envs
    from agent.pretrained import import_for
    from agent.evaluation import evaluate, to_jsonable
    from agent.eval_replay import failure_videos
    from agent.report import SUITE_TITLES, markdown_table, write_reports
    from world_model.policies.subgoal import SubgoalPolicy
    from agent.value_subgoals import ValueSubgoals

    import_for(args.checkpoint, args.env_import)
    specs = [envs.task_spec(t) for t in (args.env or ["reacher"])]
    tasks = [spec.name for spec in specs]
    # The free suite samples goal poses, which only our own tasks can: a user's env gets the LeWM protocol.
    foreign = [spec.name for spec in specs if not spec.is_builtin]
    suites = args.suite or (["lewm"] if foreign else ["lewm", "free"])
    if "free" in suites and foreign:
        raise UserInputError(f"the free suite needs a sampler of reachable goal states, which a gymnasium id does not "
                             f"have ({', '.join(foreign)}); use --suite lewm")
    planners = args.planner or ["auto"]
    check_planner_options(args)
    check_at_least(args, 1, "episodes", "budget", "receding_horizon", "max_envs")
    from agent.thread_tuner import parse_threads

    args.threads = parse_threads(args.threads)
    check_output_folder(args.out, "--out")
    if args.video_failures:
        check_output_folder(args.video_failures, "--video-failures")
    if args.ray is not None:
        _check_ray(args)
    command = "lewm-eval " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    header = (f"Command: `{command}`  \nDate: {time.strftime('%Y-%m-%d %H:%M')}  \n"
              + "  \n".join(f"{k}: {v}" for k, v in SUITE_TITLES.items() if k in suites))
    runs, paths = [], {}
    for task, folder, eval_data, planner, agent, kwargs in _prepare_runs(args, tasks, suites, planners):
        high_level = agent.waypoints
        label = agent.planner_name + ("" if high_level is None else
                                      "+subgoals" if isinstance(high_level, SubgoalPolicy) else
                                      "+value-subgoals" if isinstance(high_level, ValueSubgoals) else "+waypoints")
        for suite in suites:
            frames = [] if args.video_failures else None
            if args.ray is not None:
                from agent.ray_eval import ray_run

                # What "auto" chose here by timing (precision, threads) goes to the jobs, which would time it
                # again: the thread count changes float sums, and so can change a plan.
                import torch

                threads = "auto" if getattr(args, "threads", None) == "auto" else torch.get_num_threads()
                run = ray_run(args, task, folder, eval_data, suite, label, {**kwargs, "precision": agent.precision},
                              threads, args.ray_cpus, args.ray_gpus)
            else:
                run = evaluate(task, suite, agent, args.episodes, seed=args.seed, eval_data=eval_data,
                               budget=args.budget, planner_name=label, progress=not args.no_progress,
                               tolerance=args.tolerance, nontrivial=args.nontrivial, max_envs=args.max_envs,
                               frames_out=frames)
            summary = to_jsonable(run)
            summary["checkpoint"] = str(folder)
            summary["replay"] = {"agent": kwargs, "tolerance": args.tolerance}
            runs.append(summary)
            if frames is not None:
                videos = failure_videos(summary, frames, args.video_failures)
                print(f"{task} {suite} {label}: {len(videos)} failed episode(s) -> {args.video_failures}/")
            paths = write_reports(runs, args.out, header=header)  # after every run: Ctrl-C keeps finished ones
            lo, hi = summary["ci95"]
            print(f"{task} {suite} {label}: {summary['successes']}/{summary['episodes']} "
                  f"({100 * summary['success_rate']:.0f}%, 95% CI {100 * lo:.0f}-{100 * hi:.0f}%), "
                  f"{summary['plan_seconds_per_replan']:.2f} s per replan", flush=True)
    print(markdown_table(runs))
    print(f"wrote {paths['json']}, {paths['md']}, {paths['png']}")
    return 0


def _check_ray(args) -> None:
    """``--ray``: Ray is installed, the job resources are sane, and nothing asks for what jobs do not return."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise UserInputError("--ray needs Ray: pip install lewm-plan[ray]") from None
    if (args.ray_cpus is not None and not args.ray_cpus > 0) or not args.ray_gpus >= 0:
        raise UserInputError(f"--ray-cpus must be above 0 and --ray-gpus at least 0, got {args.ray_cpus} and "
                             f"{args.ray_gpus}")
    if args.video_failures:
        raise UserInputError("--video-failures films episodes here; with --ray they run elsewhere: leave one out")


def _replay(args) -> int:
    """``--replay RESULTS EPISODE``: one recorded episode again (``agent.eval_replay``)."""
    from agent.eval_replay import replay

    results, episode = args.replay
    try:
        episode = int(episode)
    except ValueError:
        raise UserInputError(f"--replay {results} {episode}: EPISODE must be an episode index (0, 1, ...)") from None
    if args.video:
        check_video_path(args.video)
    print(replay(results, episode, args.replay_run, device=args.device, video=args.video,
                 progress=not args.no_progress))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli("lewm-eval", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
