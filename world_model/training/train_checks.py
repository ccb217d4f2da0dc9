"""``lewm-train``'s argument checks, run before any work and before any file or folder is created."""
from __future__ import annotations

from pathlib import Path

from common.cli_checks import check_at_least, check_seed
from common.cli_errors import UserInputError

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


def resume_config(saved, asked: dict, file_cfg, config_path):
    """The config a ``--resume`` continues with: the run's own, with the options that may change (``RESUMABLE``)
    applied; returns ``(config, ["steps 40 -> 80", ...])``.

    Args:
        saved: the run's config (from its train state).
        asked: the config keys the command line set (``--set``, ``--steps``, ``--seed``, ``--checkpoint-every``), as
            validated values.
        file_cfg: the ``--config`` file's config (with those options applied); the keys the file itself writes
            must agree with the run (a preset's, or the defaults, are not compared).

    Raises:
        UserInputError: an option or the config file changes what a resumed run cannot (the architecture, the
            optimiser, the seed, ...), naming it and the run's value.
    """
    import yaml

    changes = {}
    for key, value in asked.items():
        old = getattr(saved, key)
        if value == old:
            continue
        if key not in RESUMABLE:
            raise UserInputError(f"--resume: {key} cannot change in a resumed run (it was trained with {old!r}, "
                                 f"asked {value!r}); only {', '.join(RESUMABLE)} can; to change it start a new run "
                                 f"(--init RUN/model starts one from this run's weights)")
        changes[key] = value
    written = yaml.safe_load(Path(config_path).read_text()) or {}
    for name in written:
        if name == "preset" or name in DATA_FACTS or name in RESUMABLE or name in asked:
            continue
        if getattr(file_cfg, name) != getattr(saved, name):
            raise UserInputError(f"--resume: {config_path} sets {name} {getattr(file_cfg, name)!r} but the run was "
                                 f"trained with {getattr(saved, name)!r}; resume with the run's own config "
                                 f"(RUN/model/config.yaml) or start a new run")
    reported = [f"{key} {getattr(saved, key)!r} -> {value!r}" for key, value in changes.items()]
    return saved.replace(**changes), reported
