"""``lewm-collect``: record an image dataset for world-model training.

    lewm-collect --env reacher --episodes 400 --steps 100 --out data/reacher.h5
"""

from __future__ import annotations

import argparse
import sys

from agent.cli_common import run_cli


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lewm-collect", description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--env", required=True, help="task name (see envs.TASKS)")
    p.add_argument("--episodes", type=int, required=True, help="number of episodes")
    p.add_argument("--steps", type=int, default=100, help="env steps per episode")
    p.add_argument("--out", required=True, help="output HDF5 file (its folder must exist)")
    p.add_argument("--image-size", type=int, default=64, help="observation side in pixels")
    p.add_argument("--seed", type=int, default=0, help="collection seed (with the episode index, fixes episodes)")
    p.add_argument("--max-hold", type=int, default=10,
                   help="held-random policy: longest hold of one random action, in env steps")
    p.add_argument("--workers", type=int, default=2, help="parallel worker processes")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    import envs
    from agent.collect import CollectConfig, collect

    envs.task_spec(args.env)  # fail fast on an unknown task
    for name in ("episodes", "steps", "image_size", "workers", "max_hold"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    cfg = CollectConfig(env=envs.task_spec(args.env).name, episodes=args.episodes, steps=args.steps,
                        image_size=args.image_size, seed=args.seed, max_hold=args.max_hold)
    summary = collect(cfg, args.out, workers=args.workers, progress=not args.no_progress)
    print(f"wrote {args.out}: {summary['episodes']} episodes, {summary['frames']} frames "
          f"({summary['frames_per_second']:.0f} frames/s with {args.workers} worker(s))")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli("lewm-collect", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
