"""``lewm-subgoal-frames``: embed frames of a model's training data for the value-guided high level.

    lewm-subgoal-frames --checkpoint world_model/checkpoints/cube --data data/cube_a.h5 data/cube_b.h5
    lewm-subgoal-frames --checkpoint CKPT --data data/cube.h5 --every 5 --max-frames 20000 --out /tmp/frames.safetensors

Encodes every ``--every``-th frame of whole episodes of the data (``--max-frames`` in all, shared evenly over the
files) and writes ``subgoal_frames.safetensors`` (float16 embeddings and the model's checksum) into the checkpoint
folder, where ``lewm-plan`` / ``lewm-eval --subgoals value`` find it (``agent.value_subgoals``: at each replan
the agent aims at the frame, within a few blocks by the goal value, that the value puts nearest the goal). It needs
the checkpoint's goal value (``lewm-train-value``) to be used, not to be built.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from common.cli_errors import UserInputError, run_cli

PROG = "lewm-subgoal-frames"
MAX_FRAMES = 65_536  # the most one file declares (world_model.policies.mlp_file.MAX_SIZE)


def build_parser() -> argparse.ArgumentParser:
    from common.cli_help import essentials, help_style

    p = argparse.ArgumentParser(**help_style(PROG, __doc__))
    first = essentials(p)
    first.add_argument("--checkpoint", type=Path, required=True, metavar="DIR",
                       help="the model whose encoder embeds the frames")
    first.add_argument("--data", nargs="+", required=True, metavar="FILE",
                       help="HDF5 datasets of the model's task (lewm-collect), e.g. its training shards")
    first.add_argument("--out", type=Path, metavar="FILE",
                       help="file to write (default: CHECKPOINT/subgoal_frames.safetensors)")
    frames = p.add_argument_group("the frames")
    frames.add_argument("--every", type=int, default=5, metavar="N",
                        help="keep every N-th frame of an episode (default 5)")
    frames.add_argument("--max-frames", type=int, default=50_000, metavar="N",
                        help=f"frames in all (default 50000, at most {MAX_FRAMES}; 50000 x 192-D is 19 MB)")
    frames.add_argument("--seed", type=int, default=0, help="which episodes, when not all fit")
    use = p.add_argument_group("how the agent uses them (kept in the file)")
    use.add_argument("--reach", type=float, default=3.0, metavar="BLOCKS",
                     help="a frame within this many action blocks of the agent, by the goal value, may be its next "
                          "subgoal (default 3)")
    use.add_argument("--goal-blocks", type=float, default=3.0, metavar="BLOCKS",
                     help="aim at the goal itself once the value puts it this near (default 3)")
    use.add_argument("--far", type=float, default=None, metavar="BLOCKS",
                     help="only a goal the value puts over this many blocks away when first seen gets subgoals; a "
                          "nearer one is the low level's alone (default: every goal)")
    p.add_argument_group("output").add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p


def _main(argv) -> int:
    args = build_parser().parse_args(argv)
    if args.every < 1:
        raise UserInputError(f"--every must be at least 1, got {args.every}")
    if not 1 <= args.max_frames <= MAX_FRAMES:
        raise UserInputError(f"--max-frames must be in [1, {MAX_FRAMES}], got {args.max_frames}")
    if not args.reach > 0 or not args.goal_blocks >= 0 or not (args.far is None or args.far >= 0):
        raise UserInputError(f"--reach must be positive, --goal-blocks and --far at least 0, got {args.reach}, "
                             f"{args.goal_blocks} and {args.far}")
    if args.out is not None and args.out.suffix != ".safetensors":
        raise UserInputError(f"--out must name a .safetensors file, got {args.out}")
    for path in args.data:
        if not Path(path).is_file():
            raise UserInputError(f"no dataset {path}")
    from agent.subgoal_frames import FILE_NAME, build_subgoal_frames
    from world_model import LeWM

    started = time.perf_counter()
    model = LeWM.load(args.checkpoint)
    frames, info = build_subgoal_frames(model, args.data, args.every, args.max_frames, not args.no_progress,
                                        args.seed, reach=args.reach, goal_blocks=args.goal_blocks, far=args.far)
    out = frames.save(args.out or args.checkpoint / FILE_NAME, info={**info, "seconds": time.perf_counter() - started},
                      model_sha256=model.checkpoint_sha256)
    print(f"{len(frames.frames)} frames from {len(args.data)} file(s); {out} ({out.stat().st_size / 1e6:.1f} MB) in "
          f"{time.perf_counter() - started:.0f} s")
    return 0


def main(argv=None) -> int:
    """Console entry point ``lewm-subgoal-frames``; returns the exit status."""
    return run_cli(PROG, _main, argv)


if __name__ == "__main__":
    sys.exit(main())
