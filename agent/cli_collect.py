"""``lewm-collect``: record an image dataset for world-model training.

    lewm-collect --env reacher --episodes 400 --steps 100 --out data/reacher.h5
    lewm-collect --env tworoom --policy door_seeking --episodes 400 --out data/tworoom.h5
    lewm-collect --env Pusher-v5 --preview pusher.png     # check the camera first: a few frames, robot size
    lewm-collect --plan experiments/configs/cube_data.yaml  # data at scale: shards into $LEWM_DATA/cube, resumable
"""

from __future__ import annotations

import argparse
import json
import sys

from agent.camera_preview import MIN_MOVING_FRACTION
from common.cli_help import essentials, help_style
from agent.cli_common import check_at_least, check_output_file, parse_indices, run_cli


def _policy_names() -> str:
    """"held_random (any task), door_seeking (tworoom), ...": the data policies and the tasks each fits."""
    from envs.policies import POLICIES

    return ", ".join(f"{name} ({', '.join(cls.tasks) if cls.tasks else 'any task'})" for name, cls in POLICIES.items())


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(**help_style("lewm-collect", __doc__))
    first = essentials(p)
    first.add_argument("--env", metavar="TASK", help="task name (see envs.TASKS) or any gymnasium id, e.g. "
                       "Reacher-v5 (required unless --plan)")
    first.add_argument("--episodes", type=int, metavar="N", help="number of episodes (required unless --preview)")
    first.add_argument("--steps", type=int, default=100, metavar="N", help="env steps per episode")
    first.add_argument("--out", metavar="FILE", help="output HDF5 file (its folder must exist; required unless "
                       "--preview); with --plan a folder")
    first.add_argument("--policy", default="held_random", metavar="NAME", help=f"data policy: {_policy_names()}")
    first.add_argument("--seed", type=int, default=0, metavar="N",
                       help="collection seed (with the episode index, fixes episodes)")
    plan = p.add_argument_group("data at scale: a collection plan")
    plan.add_argument("--plan", metavar="YAML",
                      help="collect a collection plan instead (shards of several data policies, agent.collect_plan): "
                           "into --out, a folder, by default $LEWM_DATA/<env> (~/.cache/lewm/<env>); rerun the same "
                           "command to resume")
    plan.add_argument("--max-shards", type=int, metavar="N", help="with --plan: collect at most this many shards in "
                      "this run")
    camera = p.add_argument_group("camera and images")
    camera.add_argument("--image-size", type=int, default=64, metavar="PX", help="observation side in pixels")
    camera.add_argument("--preview", metavar="PNG",
                        help="check the camera instead of collecting: write a few frames of one episode of the data "
                             f"policy to PNG and say how much of the image the robot fills (warns under "
                             f"{100 * MIN_MOVING_FRACTION:.0f} %%)")
    policy = p.add_argument_group("data policy settings")
    policy.add_argument("--max-hold", type=int, default=10, metavar="N",
                        help="held-random policy: longest hold of one random action, in env steps")
    policy.add_argument("--door-prob", type=float, default=0.5, metavar="P",
                        help="door_seeking policy: probability that a wandering segment ends with a trip through the "
                             "door")
    policy.add_argument("--action-scale", type=float, default=1.0, metavar="X",
                        help="held-random policy: the fraction of the env's action box it samples from, about its "
                             "centre (recorded with the data: planners search the same box)")
    run = p.add_argument_group("speed and progress")
    run.add_argument("--workers", type=int, default=2, metavar="N", help="parallel worker processes")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    own = p.add_argument_group("a gymnasium env of your own")
    own.add_argument("--import", dest="env_import", default="", metavar="MODULE",
                     help="module to import first: the one that registers your gymnasium id")
    own.add_argument("--env-kwargs", default="", metavar="JSON",
                     help="a gymnasium id's gym.make keyword arguments, as a JSON object")
    own.add_argument("--angle-qpos", default="", metavar="I,J",
                     help="a gymnasium id's qpos entries that are angles (wrapped in success tests and the probe)")
    return p


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.plan:
        return _plan(args)
    if args.env is None:
        parser.error("the following arguments are required: --env (or --plan)")
    if not args.preview and (args.episodes is None or args.out is None):
        parser.error("the following arguments are required: "
                     + ", ".join(o for o, v in (("--episodes", args.episodes), ("--out", args.out)) if v is None))
    import envs
    from agent.collect import CollectConfig, collect

    from envs.policies import check_policy

    from envs.gym_task import parse_env_kwargs, resolve_path_kwargs

    envs.import_env_module(args.env_import)
    task = envs.task_spec(args.env).name  # fail fast on an unknown task
    check_policy(args.policy, task)  # ... and on an unknown policy or one for another task
    check_at_least(args, 1, "episodes", "steps", "image_size", "workers", "max_hold")
    from common.cli_checks import check_image_size, check_seed

    check_image_size(args)
    check_seed(args)
    if args.preview:
        check_output_file(args.preview, "--preview")
    if not 0.0 < args.action_scale <= 1.0:
        raise ValueError(f"--action-scale must be in (0, 1], got {args.action_scale}")
    if not 0.0 <= args.door_prob <= 1.0:
        raise ValueError(f"--door-prob must be in [0, 1], got {args.door_prob}")
    env_kwargs = resolve_path_kwargs(parse_env_kwargs(args.env_kwargs))  # recorded: plan from any folder
    cfg = CollectConfig(env=task, episodes=args.episodes or 1, steps=args.steps, image_size=args.image_size,
                        seed=args.seed, policy=args.policy, max_hold=args.max_hold, door_prob=args.door_prob,
                        env_kwargs=json.dumps(env_kwargs, sort_keys=True) if env_kwargs else "",
                        env_import=args.env_import, angle_qpos=parse_indices(args.angle_qpos, "--angle-qpos"),
                        action_scale=args.action_scale)
    if args.preview:
        return _preview(cfg, args.preview)
    summary = collect(cfg, args.out, workers=args.workers, progress=not args.no_progress)
    print(f"wrote {args.out}: {summary['episodes']} episodes, {summary['frames']} frames "
          f"({summary['frames_per_second']:.0f} frames/s with {args.workers} worker(s))")
    if summary["ended_early"]:
        print(f"lewm-collect: the env ended {summary['ended_early']} of {summary['episodes']} episodes before "
              f"{args.steps} steps (episodes of {summary['shortest_episode']} to {summary['longest_episode']} "
              f"frames); a training window spans num_steps x frameskip frames (20 by default)")
    return 0


def _plan(args) -> int:
    """``--plan``: the plan's unfinished shards into the data folder (``agent.collect_plan``)."""
    from agent.collect_plan import collect_plan, load_plan, manifest_summary
    from agent.data_home import data_home

    plan = load_plan(args.plan)
    if args.max_shards is not None and args.max_shards < 1:
        raise ValueError(f"--max-shards must be at least 1, got {args.max_shards}")
    check_at_least(args, 1, "workers")
    out = args.out or str(data_home() / str(plan["env"]))
    manifest = collect_plan(plan, out, workers=args.workers, max_shards=args.max_shards,
                            progress=not args.no_progress)
    print(f"{out}: {manifest_summary(manifest)}")
    return 0


def _preview(cfg, out) -> int:
    """``--preview``: the camera check (``agent.camera_preview``); nothing is collected."""
    from agent.camera_preview import camera_preview

    result = camera_preview(cfg, out)
    print(f"wrote {out}: {result['frames']} frames of episode 0 at {cfg.image_size} px; the robot (the pixels that "
          f"change while it moves) fills {100 * result['moving_fraction']:.1f} % of the image")
    if result["warning"]:
        print(f"lewm-collect: warning: {result['warning']}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli("lewm-collect", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
