"""What every command line shares: the one user-error boundary (``common.cli_errors``), and the checks that
run before any expensive work: option ranges, output paths that can be written, a video writer that opens."""

from __future__ import annotations

import os
from pathlib import Path

from common.cli_checks import check_at_least, check_output_file, check_output_folder
from common.cli_errors import USER_ERRORS, UserInputError, run_cli

__all__ = ["USER_ERRORS", "UserInputError", "run_cli", "check_at_least", "check_planner_options", "add_speed_options",
           "add_integrity_options", "integrity_settings",
           "speed_settings",
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


def add_cost_option(p) -> None:
    """``--cost``: the goal cost the planner scores plans by (lewm-plan and lewm-eval)."""
    p.add_argument("--cost", choices=["all", "terminal", "readout", "min", "value"],
                   help="goal cost: all (latent distance over the horizon), terminal (last step only), readout "
                        "(distance in the state readout of a model trained with state_lambda), min (the nearest "
                        "predicted step), value (action blocks to the goal by the checkpoint's goal value); "
                        "default: the checkpoint's planning.json, else all")


def add_speed_options(p) -> None:
    """The search (``--horizon``, ``--noise-corr``), its budget (``--samples``, ``--iters``, ``--warm-iters``),
    ``--precision``/``--bf16``, ``--proposal``, ``--subgoals``, ``--refine-steps``/``--refine-lr``, ``--compile`` and
    ``--replan-steps``, shared by ``lewm-plan`` and ``lewm-eval``."""
    import argparse

    p.add_argument("--horizon", type=int, help="planning horizon in action blocks (default: the checkpoint's "
                   "planning.json, else 5)")
    p.add_argument("--noise-corr", type=float, help="correlation of the sampling noise across the env steps of an "
                   "action block, in [0, 1); 0 = independent per step (default: the checkpoint's planning.json, "
                   "else 0.8)")
    p.add_argument("--samples", type=int, help="planner samples per iteration (default 64 with the checkpoint's "
                   "proposal policy, else 300)")
    p.add_argument("--iters", type=int, help="planner iterations of an episode's first plan (default 4 with the "
                   "checkpoint's proposal policy, else 15)")
    p.add_argument("--warm-iters", type=int, help="planner iterations for warm-started replans (default 2 with the "
                   "checkpoint's proposal policy, else 5)")
    p.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto",
                   help="world-model precision while planning: auto = bf16 where this machine runs it faster")
    p.add_argument("--bf16", action="store_true", help="same as --precision bf16")
    p.add_argument("--proposal", action=argparse.BooleanOptionalAction, default=None,
                   help="seed the planner with the checkpoint's proposal policy (proposal.safetensors); default: "
                        "when the checkpoint has one")
    p.add_argument("--value", action=argparse.BooleanOptionalAction, default=None,
                   help="load the checkpoint's goal value (value.safetensors, lewm-train-value); --no-value plans "
                        "without it, on the latent distance, where the checkpoint's planning.json chose cost "
                        "'value'; default: when the checkpoint has one")
    p.add_argument("--value-subgoals", action="store_true",
                   help="aim each replan at the data frame within reach that the goal value puts nearest the goal "
                        "(the frames of the checkpoint's waypoint file; needs value.safetensors)")
    p.add_argument("--subgoals", action=argparse.BooleanOptionalAction, default=None,
                   help="aim each replan at the checkpoint's learned subgoal on the way to the goal "
                        "(subgoal.safetensors, in place of waypoints); default: when the checkpoint has one")
    p.add_argument("--refine-steps", type=int, default=0,
                   help="gradient steps on each plan the planner returns, through the world model (default 0: none)")
    p.add_argument("--refine-lr", type=float, default=0.1,
                   help="step size of --refine-steps, in normalised action units (default 0.1)")
    p.add_argument("--compile", action="store_true",
                   help="run the planning rollout through torch.compile: faster replans after a one-off compile "
                        "(minutes the first time on a machine, then cached); needs a C++ compiler, else a warning")
    p.add_argument("--replan-steps", type=int,
                   help="replan every this many env steps, a divisor of the model's frameskip (default: the "
                        "frameskip, once per action block); smaller reacts sooner and plans more often")


def add_waypoint_options(p) -> None:
    """``--waypoints / --no-waypoints`` and ``--waypoint-file`` (lewm-plan and lewm-eval)."""
    import argparse

    p.add_argument("--waypoints", action=argparse.BooleanOptionalAction, default=None,
                   help="approach far goals through the checkpoint's waypoint graph (waypoints.npz); default: when "
                        "the checkpoint has one (the shipped reacher, pointmass and tworoom models do)")
    p.add_argument("--waypoint-file", type=Path, metavar="FILE",
                   help="a waypoint graph to use instead of the checkpoint's waypoints.npz (e.g. the directed graph "
                        "for OGBench's long tasks, waypoints_directed.npz beside the cube model)")


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
    """``make_agent``'s ``waypoints`` argument from :func:`add_waypoint_options`' options."""
    if args.waypoint_file is None:
        return "auto" if args.waypoints is None else args.waypoints
    if args.waypoints is False:
        raise UserInputError("--waypoint-file names a graph and --no-waypoints turns graphs off: choose one")
    if not args.waypoint_file.is_file():
        raise UserInputError(f"--waypoint-file {args.waypoint_file}: no such file; build one with "
                             f"experiments/build_waypoints.py")
    return str(args.waypoint_file)


def speed_settings(args) -> dict:
    """``make_agent`` keyword arguments from :func:`add_speed_options`' options."""
    return {"num_samples": args.samples, "n_iters": args.iters, "warm_iters": args.warm_iters,
            "precision": "bf16" if args.bf16 else args.precision,
            "proposal": "auto" if args.proposal is None else args.proposal,
            "subgoals": "value" if getattr(args, "value_subgoals", False) else
            "auto" if args.subgoals is None else args.subgoals,
            "value": "auto" if getattr(args, "value", None) is None else args.value,
            "refine_steps": args.refine_steps, "refine_lr": args.refine_lr, "compile_rollout": args.compile,
            "replan_steps": args.replan_steps, "horizon": args.horizon, "substep_correlation": args.noise_corr}


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
