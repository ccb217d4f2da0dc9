"""``lewm-train``'s argument checks, run before any work and before any file or folder is created."""
from __future__ import annotations

from pathlib import Path

from world_model.cli_checks import check_at_least
from world_model.cli_errors import UserInputError


def check_args(args) -> None:
    """Option ranges and combinations (UserInputError naming the option and the fix)."""
    check_at_least(args, 1, "steps", "threads", "checkpoint_every")
    if args.allow_other_data and not args.resume:
        raise UserInputError("--allow-other-data only applies with --resume; drop it or add --resume")
    if args.init and args.resume:
        raise UserInputError("--init starts a new run from a checkpoint; --resume continues one: pass only one")
    if args.init and not Path(args.init).is_dir():
        raise UserInputError(f"--init {args.init}: no such checkpoint folder; pass a folder holding config.yaml "
                             f"and model.safetensors (e.g. world_model/checkpoints/reacher)")


def check_resume_steps(steps, reached: int, state_path: Path) -> None:
    """``--steps`` on ``--resume`` may not go below the step the run already reached."""
    if steps is not None and steps < reached:
        raise UserInputError(f"--steps {steps} is below step {reached} that {state_path} already reached; "
                             f"pass --steps {reached} or more (or omit it)")
