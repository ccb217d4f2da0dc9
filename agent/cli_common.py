"""What every command line shares: the one user-error boundary (``common.cli_errors``), and the checks that
run before any expensive work: option ranges, output paths that can be written, a video writer that opens."""

from __future__ import annotations

import os
from pathlib import Path

from common.cli_checks import check_at_least, check_output_file, check_output_folder
from common.cli_errors import USER_ERRORS, UserInputError, run_cli
from common.cli_help import SwitchOrValue, removed

__all__ = ["USER_ERRORS", "UserInputError", "run_cli", "check_at_least", "check_planner_options", "planner_choices",
           "budgets", "add_planner_options", "add_speed_options", "add_tuning_options", "add_own_env_options",
           "add_removed_options",
           "REMOVED_OPTIONS", "add_integrity_options", "integrity_settings", "waypoint_choice", "speed_settings",
           "check_output_file", "check_output_folder", "check_video_path", "parse_indices", "VIDEO_SUFFIXES"]

VIDEO_SUFFIXES = (".mp4", ".gif")


def check_planner_options(args) -> None:
    """The planner options shared by ``lewm-plan`` and ``lewm-eval``: samples, iterations, horizon, noise."""
    from common.cli_checks import check_seed

    check_seed(args)
    check_at_least(args, 2, "samples")  # the elites refit a distribution: one sample has no spread
    check_at_least(args, 1, "iters", "warm_iters", "horizon")
    check_at_least(args, 0, "refine_steps")
    check_at_least(args, 1, "replan_steps")
    lr = getattr(args, "refine_lr", None)
    if lr is not None and not 0 < lr < float("inf"):
        raise UserInputError(f"--refine-lr must be a finite number > 0, got {lr}")
    tolerance = getattr(args, "tolerance", None)
    if tolerance is not None and not 0 < tolerance < float("inf"):
        raise UserInputError(f"--tolerance must be a finite number > 0, got {tolerance}")
    corr = getattr(args, "noise_corr", None)
    if corr is not None and not 0.0 <= corr < 1.0:
        raise UserInputError(f"--noise-corr must be in [0, 1), got {corr}")
    std = getattr(args, "init_std", None)
    if std is not None and not 0.0 < std < float("inf"):
        raise UserInputError(f"--init-std must be a finite number > 0, got {std}")


def planner_choices() -> list[str]:
    """``--planner``'s choices: ``auto`` and every name of the planner registry (``planners.registry``)."""
    from planners.registry import planner_names

    return ["auto", *planner_names()]


def budgets(suite: str) -> str:
    """The built-in tasks' budgets of a suite (``lewm`` or ``free``), in env steps, as each task declares them
    (``envs.task_spec(name).defaults``): "reacher 200, pointmass 300, ...", or one number when all are equal."""
    import envs

    steps = {name: envs.task_spec(name).defaults.budget(suite) for name in envs.TASKS}
    if len(set(steps.values())) == 1:
        return str(next(iter(steps.values())))
    return ", ".join(f"{name} {n}" for name, n in steps.items())


def add_planner_options(g) -> None:
    """What the agent plans with and towards, besides ``--planner`` (lewm-plan and lewm-eval): ``--cost``, the high
    level (``--waypoints [FILE]``, ``--subgoals [learned|value]``) and the checkpoint's ``--proposal`` and
    ``--value``."""
    import argparse

    from agent.latent_cost import COSTS, VALUE_FAR_BLOCKS
    from agent.pretrained import shipped_checkpoints
    from agent.waypoints import FILE_NAME

    with_graph = [name for name, folder in shipped_checkpoints().items() if (folder / FILE_NAME).is_file()]
    g.add_argument("--cost", choices=COSTS,
                   help="goal cost: all (latent distance over the horizon), terminal (last step only), readout "
                        "(distance in the state readout of a model trained with state_lambda), min (the nearest "
                        "predicted step), value (action blocks to the goal by the checkpoint's goal value), value_far "
                        f"(value while it puts the goal over {VALUE_FAR_BLOCKS:g} blocks away, then min), "
                        "value_readout (value while far, then the nearest predicted step in the readout's units, "
                        "counting only the state the task's success test reads, e.g. the cube and not the arm); "
                        "default: the checkpoint's planning.json, else all")
    g.add_argument("--waypoints", action=SwitchOrValue, metavar="FILE",
                   help="approach far goals through a waypoint graph: --waypoints the checkpoint's waypoints.npz, "
                        "--waypoints FILE another graph (e.g. waypoints_directed.npz beside the cube model, for "
                        "OGBench's long tasks), --no-waypoints straight at the goal; default: the checkpoint's "
                        f"graph when it has one (shipped models with one: {', '.join(with_graph) or 'none'})")
    g.add_argument("--subgoals", action=SwitchOrValue, metavar="KIND", choices=["learned", "value"],
                   const="learned",
                   help="aim each replan at a subgoal on the way to the goal, in place of waypoints: learned (the "
                        "checkpoint's subgoal.safetensors, what --subgoals alone means) or value (the data frame "
                        "that the goal value puts within reach and nearest the goal: the checkpoint's "
                        "subgoal_frames.safetensors from lewm-subgoal-frames, else its waypoint file's frames; "
                        "needs value.safetensors); --no-subgoals: none; default: the checkpoint's planning.json "
                        "(the cube's: value), else learned when the checkpoint has subgoal.safetensors")
    g.add_argument("--proposal", action=argparse.BooleanOptionalAction, default=None,
                   help="seed the planner with the checkpoint's proposal policy (proposal.safetensors); default: "
                        "when the checkpoint has one")
    g.add_argument("--value", action=argparse.BooleanOptionalAction, default=None,
                   help="load the checkpoint's goal value (value.safetensors, lewm-train-value); --no-value plans "
                        "without it, on the latent distance, where the checkpoint's planning.json chose cost "
                        "'value'; default: when the checkpoint has one")


def add_speed_options(g) -> None:
    """The search budget (``--samples``, ``--iters``, ``--warm-iters``), ``--precision`` and ``--compile`` (lewm-plan
    and lewm-eval; each adds its own ``--threads`` and ``--device``). Defaults as the agent keeps them
    (``agent.pretrained``)."""
    from agent.pretrained import PROPOSAL_BUDGET, SEARCH_BUDGET
    from world_model.rollout.precision import PRECISIONS

    def said(key: str) -> str:
        return f"default {PROPOSAL_BUDGET[key]} with the checkpoint's proposal policy, else {SEARCH_BUDGET[key]}"

    g.add_argument("--samples", type=int, metavar="N", help=f"planner samples per iteration ({said('num_samples')})")
    g.add_argument("--iters", type=int, metavar="N",
                   help=f"planner iterations of an episode's first plan ({said('n_iters')})")
    g.add_argument("--warm-iters", type=int, metavar="N", help=f"planner iterations for warm-started replans "
                   f"({said('warm_iters')})")
    g.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="world-model precision while planning: auto = bf16 where this machine runs it faster")
    g.add_argument("--compile", action="store_true",
                   help="run the planning rollout through torch.compile: faster replans after a one-off compile "
                        "(minutes the first time on a machine, then cached); needs a C++ compiler, else a warning")


def add_tuning_options(g) -> None:
    """The shape of the search: ``--horizon``, ``--noise-corr``, ``--init-std``, ``--state-probe``,
    ``--proposal-guard``, ``--replan-steps``, ``--refine-steps`` and ``--refine-lr`` (lewm-plan and lewm-eval)."""
    import argparse

    from agent.pretrained import PLANNER_DEFAULTS, SUBSTEP_CORRELATION

    g.add_argument("--horizon", type=int, metavar="N", help="planning horizon in action blocks (default: the "
                   f"checkpoint's planning.json, else {PLANNER_DEFAULTS['horizon']})")
    g.add_argument("--noise-corr", type=float, metavar="X", help="correlation of the sampling noise across the "
                   "env steps of an action block, in [0, 1); 0 = independent per step (default: the "
                   f"checkpoint's planning.json, else {SUBSTEP_CORRELATION})")
    g.add_argument("--init-std", type=float, metavar="X", help="spread of the sampling noise around the plan that "
                   "starts each search (the proposal's, or the last plan's tail), in normalised action units; small "
                   "refines the proposal, large searches wide (default: the checkpoint's planning.json, else "
                   f"{PLANNER_DEFAULTS['init_std']})")
    g.add_argument("--state-probe", action=argparse.BooleanOptionalAction, default=None,
                   help="read the state through the checkpoint's state probe (state_probe.safetensors, "
                        "lewm-train-probe) in the readout costs; --no-state-probe uses the model's linear readout; "
                        "default: when the checkpoint has one")
    g.add_argument("--proposal-guard", action=argparse.BooleanOptionalAction,
                   help="keep the proposal policy's plan wherever the cost scores the searched plan no lower, so the "
                        "search only adds to the proposal (one more rollout a replan; default: the checkpoint's "
                        "planning.json, else off)")
    g.add_argument("--replan-steps", type=int, metavar="N",
                   help="replan every this many env steps, a divisor of the model's frameskip (default: the "
                        "frameskip, once per action block); smaller reacts sooner and plans more often")
    g.add_argument("--refine-steps", type=int, metavar="N", default=0,
                   help="gradient steps on each plan the planner returns, through the world model (default 0: none)")
    g.add_argument("--refine-lr", type=float, metavar="X", default=0.1,
                   help="step size of --refine-steps, in normalised action units (default 0.1)")


def add_own_env_options(g) -> None:
    """``--import`` and ``--tolerance``: planning in a gymnasium env of the user's own (lewm-plan and lewm-eval)."""
    from envs.gym_task import DEFAULT_TOLERANCE

    g.add_argument("--import", dest="env_import", metavar="MODULE",
                   help="module that registers your gymnasium id (yours to name: a checkpoint never imports one)")
    g.add_argument("--tolerance", type=float, metavar="X", help="a gymnasium id's success test: every qpos entry "
                   f"within this of the goal's (angles wrapped; default {DEFAULT_TOLERANCE})")


# Options that were replaced, with their replacement: naming one is a one-line error that says what to write.
REMOVED_OPTIONS = {"--bf16": "--precision bf16", "--waypoint-file": "--waypoints FILE",
                   "--value-subgoals": "--subgoals value"}


def add_removed_options(p) -> None:
    """:data:`REMOVED_OPTIONS` on a parser (hidden from --help; see ``common.cli_help.removed``)."""
    for option, replacement in REMOVED_OPTIONS.items():
        removed(p, option, replacement)


def add_integrity_options(p) -> None:
    """``--trust-unverified`` (lewm-plan and lewm-eval): use a checkpoint whose checksums are missing or do not
    match (files edited by hand), with a warning, instead of refusing it."""
    p.add_argument("--trust-unverified", action="store_true",
                   help="use a checkpoint whose config.yaml records no (or another) weights_sha256, or whose "
                        "companion files (proposal, waypoints, planning.json) were built for another model: only "
                        "for files you edited yourself; each check that fails is a warning instead of an error")


def integrity_settings(args) -> dict:
    """``make_agent`` keyword arguments from :func:`add_integrity_options`' option."""
    return {"trust_unverified": bool(getattr(args, "trust_unverified", False))}


def waypoint_choice(args):
    """``make_agent``'s ``waypoints`` argument from ``--waypoints [FILE]`` / ``--no-waypoints``: "auto" (unset),
    True, False, or the path of a graph file (which must exist)."""
    if args.waypoints is None:
        return "auto"
    if isinstance(args.waypoints, bool):
        return args.waypoints
    if not Path(args.waypoints).is_file():
        raise UserInputError(f"--waypoints {args.waypoints}: no such file; build one with lewm-waypoints")
    return str(args.waypoints)


def speed_settings(args) -> dict:
    """``make_agent`` keyword arguments from the planner, speed and tuning options."""
    subgoals = {None: "auto", "learned": True, "value": "value", False: False}[args.subgoals]
    return {"num_samples": args.samples, "n_iters": args.iters, "warm_iters": args.warm_iters,
            "precision": args.precision,
            "proposal": "auto" if args.proposal is None else args.proposal,
            "subgoals": subgoals,
            "value": "auto" if getattr(args, "value", None) is None else args.value,
            "state_probe": "auto" if getattr(args, "state_probe", None) is None else args.state_probe,
            "refine_steps": args.refine_steps, "refine_lr": args.refine_lr, "compile_rollout": args.compile,
            "replan_steps": args.replan_steps, "horizon": args.horizon, "substep_correlation": args.noise_corr,
            "init_std": args.init_std, "proposal_guard": getattr(args, "proposal_guard", None)}


def parse_indices(text: str, option: str) -> tuple[int, ...]:
    """``"0,1"`` -> (0, 1); empty -> (); anything else is a one-line error naming the option."""
    if not text:
        return ()
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise UserInputError(f"{option} must be comma-separated qpos indices, e.g. 0,1; got {text!r}") from None
    if any(v < 0 for v in values):
        raise UserInputError(f"{option} indices must be >= 0, got {text!r}")
    return values


def check_video_path(path, option: str = "--video") -> Path:
    """A video we can write: a known suffix, a writable place, and a writer that opens (tried on a temporary
    file beside it, removed at once), so a bad path fails before the episode is planned, not after."""
    import tempfile

    import imageio.v2 as imageio

    from common.io_utils import temp_name_parts

    path = check_output_file(path, option)
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise UserInputError(f"{option} {path}: unknown video format {path.suffix or '(no suffix)'!r}; "
                             f"use {' or '.join(VIDEO_SUFFIXES)}")
    probe = None
    try:
        prefix, suffix = temp_name_parts(path)  # atomic_write's own pattern: a killed run's is removed next time
        fd, probe = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
        os.close(fd)
        imageio.get_writer(probe, **({"fps": 25} if path.suffix.lower() == ".mp4" else {})).close()
    except Exception as exc:  # noqa: BLE001 - any failure to open the writer is the user's path or codec
        reason = (exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)).splitlines()[0]
        raise UserInputError(f"{option} {path}: cannot write a video there ({reason})") from None
    finally:
        if probe and os.path.exists(probe):
            os.unlink(probe)
    return path
