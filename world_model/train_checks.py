"""``lewm-train``'s argument checks, run before any work and before any file or folder is created."""
from __future__ import annotations

from pathlib import Path

from world_model.cli_checks import check_at_least, check_seed
from world_model.cli_errors import UserInputError

# What a resumed run may change (applied and reported): how long it runs, how often it logs, evaluates and saves.
RESUMABLE = ("steps", "checkpoint_every", "log_every", "eval_every", "eval_batches", "num_workers",
             "collapse_rank_threshold", "collapse_std_threshold", "env_import")
# What lewm-train writes into the config from the data (a config file need not say it).
DATA_FACTS = ("task", "data_path", "action_dim", "action_mean", "action_std", "angle_qpos", "env_kwargs", "action_low",
              "action_high", "state_mean", "state_std", "weights_sha256")


def check_args(args) -> None:
    """Option ranges and combinations (UserInputError naming the option and the fix)."""
    check_at_least(args, 1, "steps", "threads", "checkpoint_every")
    check_seed(args)
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
