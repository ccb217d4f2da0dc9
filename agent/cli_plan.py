"""``lewm-plan``: drive a task's robot towards the pose shown in a goal image.

    lewm-plan --env reacher --goal goal.png --video out.mp4
    lewm-plan --env reacher --make-goal goal.png --seed 3      # render a random reachable goal pose
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from common.cli_help import essentials, help_style
from agent.cli_common import (UserInputError, add_integrity_options, add_own_env_options, add_planner_options,
                              add_removed_options, add_speed_options, add_tuning_options, check_at_least,
                              check_output_file, check_planner_options, check_video_path, budgets,
                              integrity_settings, planner_choices, run_cli, speed_settings, waypoint_choice)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(**help_style("lewm-plan", __doc__), usage="lewm-plan (--goal PNG | --make-goal "
                                "PNG) [--env TASK] [--checkpoint DIR] [options]")
    first = essentials(p)
    first.add_argument("--env", default="reacher", metavar="TASK",
                       help="task name, or the gymnasium id a --checkpoint was trained on")
    goal = first.add_mutually_exclusive_group(required=True)
    goal.add_argument("--goal", metavar="PNG", help="goal image (PNG/JPEG) to reach")
    goal.add_argument("--make-goal", metavar="PNG", help="write a goal image and exit: a random reachable pose, or "
                      "the task's own target (pusht)")
    first.add_argument("--checkpoint", metavar="DIR",
                       help="checkpoint folder or shipped name (default: the task's shipped model)")
    first.add_argument("--steps", type=int, metavar="N", help="env-step budget, stops early on success (default: "
                       f"the task's free-goal budget: {budgets('free')})")
    first.add_argument("--seed", type=int, default=0, metavar="N",
                       help="seed of the start pose (and of --make-goal's pose)")
    planner = p.add_argument_group("planner")
    planner.add_argument("--planner", default="auto", choices=planner_choices(),
                         help="trajectory optimiser; proposal: follow the checkpoint's proposal policy, no search; "
                              "auto: the checkpoint's measured choice (planning.json), else mppi")
    add_planner_options(planner)
    output = p.add_argument_group("output")
    output.add_argument("--video", metavar="FILE", help="write the episode beside the goal image to this .mp4/.gif")
    output.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    speed = p.add_argument_group("advanced: search speed")
    add_speed_options(speed)
    speed.add_argument("--threads", default="auto", metavar="auto|N",
                       help="CPU threads: auto (the fastest count, measured on the first warm replans and measured "
                            "again when their latency drifts), or a count")
    speed.add_argument("--device", default="auto", help="auto, cpu or cuda")
    add_tuning_options(p.add_argument_group("advanced: search shape"))
    poses = p.add_argument_group("start and goal poses")
    poses.add_argument("--start-state", metavar="QPOS",
                       help="start pose, comma-separated qpos (default: random from --seed)")
    poses.add_argument("--goal-state", metavar="QPOS",
                       help="with --make-goal: the pose to render, comma-separated qpos")
    poses.add_argument("--image-size", type=int, metavar="PX",
                       help="with --make-goal: image side (default: the model's)")
    add_own_env_options(p.add_argument_group("a gymnasium env of your own"))
    add_integrity_options(p.add_argument_group("checkpoint checks"))
    add_removed_options(p)
    return p


def _floats(text: str, name: str) -> np.ndarray:
    try:
        return np.array([float(v) for v in text.split(",")])
    except ValueError:
        raise ValueError(f"{name} must be comma-separated numbers, got {text!r}") from None


def _make_goal(args, spec) -> int:
    import envs
    from agent.goal_files import save_goal_png
    from agent.pretrained import resolve_checkpoint
    from world_model import LeWMConfig

    try:
        cfg = LeWMConfig.from_yaml(resolve_checkpoint(args.checkpoint or spec.name) / "config.yaml")
    except FileNotFoundError:
        if args.checkpoint:
            raise
        cfg = LeWMConfig()  # a task without a shipped model: the default 64 px
    env = envs.make_task_env(spec.name, args.image_size or cfg.image_size, env_kwargs=cfg.env_kwargs,
                             angle_qpos=cfg.angle_qpos)
    if args.goal_state:
        from envs.goal_env import check_state

        pose, _ = env.as_state(_floats(args.goal_state, "--goal-state"), "--goal-state")
        check_state(env, pose, np.zeros(env.nv), "--goal-state")  # a pose inside the task's world
    else:
        pose = env.sample_goal_state(np.random.default_rng(args.seed))
    save_goal_png(args.make_goal, env.render_state(pose), spec.name, pose)
    env.close()
    print(f"wrote {args.make_goal}: {spec.name} goal pose qpos = {np.round(pose, 4).tolist()}")
    return 0


def _write_video(path, frames, goal) -> None:
    """The episode beside the goal image, written atomically and read back (``agent.video.write_video``)."""
    from agent.video import write_video

    scale = max(1, 256 // goal.shape[0])
    big = lambda img: np.kron(img, np.ones((scale, scale, 1), np.uint8))  # noqa: E731
    gap = np.full((goal.shape[0] * scale, 16, 3), 255, np.uint8)  # 2 x 256 + 16: a multiple of 16 for codecs
    shown = [np.concatenate([big(f), gap, big(goal)], 1) for f in frames]
    write_video(path, shown, fps=25)


def _check_args(args) -> None:
    """Every option checked before any model loads or any step is planned."""
    check_planner_options(args)
    check_at_least(args, 1, "steps", "image_size")
    from agent.thread_tuner import parse_threads

    args.threads = parse_threads(args.threads)
    from common.cli_checks import check_image_size

    check_image_size(args)
    if args.make_goal:
        check_output_file(args.make_goal, "--make-goal")
        if not args.make_goal.lower().endswith(".png"):
            raise UserInputError(f"--make-goal {args.make_goal}: goal images are PNG files (the pose they show is "
                                 f"stored inside); use a .png name")
    if args.video:
        check_video_path(args.video)


def _goal_state_for(goal_path: str, task: str):
    """The goal pose stored in a goal PNG made for ``task`` (None for a plain image); a goal image made for
    another task is an error."""
    from agent.goal_files import read_goal_pose

    pose = read_goal_pose(goal_path)
    if pose is None:
        return None
    if pose[0] != task:
        raise UserInputError(f"{goal_path} is a goal image of task {pose[0]!r}, not {task!r}; use --env {pose[0]} "
                             f"or make a goal with --env {task} --make-goal")
    return pose[1]


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    import envs
    from agent.pretrained import import_for

    import_for(args.checkpoint, args.env_import)
    spec = envs.task_spec(args.env)
    _check_args(args)
    if args.make_goal:
        return _make_goal(args, spec)
    from tqdm import tqdm

    from agent.episode_end import step_end
    from agent.thread_tuner import apply_threads
    from agent.metric_words import describe
    from agent.images import load_image, to_rgb_frames
    from agent.plan_memory import check_plan_memory
    from agent.agent import make_agent
    from agent.pretrained import checkpoint_for, make_task_env

    started = time.perf_counter()
    goal_image = load_image(args.goal)  # a missing or unreadable file fails here, before any model loads
    goal_state = _goal_state_for(args.goal, spec.name)
    if args.steps is None:
        args.steps = int(spec.defaults.free_budget)
    agent = make_agent(checkpoint_for(spec.name, args.checkpoint), planner=args.planner, device=args.device,
                       task=spec.name, cost=args.cost, **speed_settings(args), **integrity_settings(args),
                       seed=args.seed, waypoints=waypoint_choice(args))
    check_plan_memory(agent)
    apply_threads(agent, args.threads)
    env = make_task_env(agent, spec.name, args.tolerance)
    agent.success_qpos = tuple(getattr(env, "success_qpos", ()))  # the readout costs count what success reads
    start = _floats(args.start_state, "--start-state") if args.start_state else None
    if start is not None:  # named as the user wrote it, before the env is reset
        from envs.goal_env import check_state

        check_state(env, *env.as_state(start, "--start-state"), "--start-state")
    obs, info = env.reset(seed=args.seed, options={"state": start, "goal_state": goal_state})
    start_info = info
    agent.set_goal(goal_image)
    goal_shown = to_rgb_frames(goal_image, agent.image_size)
    frames = [obs]
    success, ended, steps = False, False, 0
    bar = tqdm(range(args.steps), desc=f"lewm-plan {spec.name}", unit="step", disable=args.no_progress)
    for steps in range(1, args.steps + 1):
        obs, _, terminated, truncated, info = env.step(agent.act(obs))
        frames.append(obs)
        bar.update()
        if goal_state is not None:
            if info.get("distance") is not None:
                bar.set_postfix(distance=f"{info['distance']:.3f}")
            else:
                bar.set_postfix(error=f"{np.max(info['error']):.3f}")
        ended, success = step_end(terminated, truncated, info)
        if ended:  # success only from the task's success test: a gymnasium env may terminate on failure
            break
    bar.close()
    if args.video:
        _write_video(args.video, frames, goal_shown)
    step_s = env.step_seconds  # None for an env that does not say how long a step lasts
    block_s = step_s * agent.replan_steps * agent.receding_horizon if step_s else None
    timing = latency_line(agent.plan_seconds, block_s)
    if agent.thread_tuner is not None:
        timing += f"; {agent.thread_tuner.summary()}"
    if goal_state is not None and info.get("distance") is not None:  # position tasks (m), pusht (px)
        unit = env.error_unit or "m"
        outcome = (f"success: {'yes' if success else 'no'}{env.success_words()} | steps: {steps} | final distance: "
                   f"{info['distance']:.3f} {unit} (success within {env.success_tolerance} {unit})")
    elif goal_state is not None and env.error_unit == "rad":
        outcome = (f"success: {'yes' if success else 'no'} | steps: {steps} | final joint error: "
                   f"{np.max(info['error']):.3f} rad (max over joints; success below {env.success_tolerance})")
    elif goal_state is not None:  # a user's gymnasium env: the state match over qpos
        outcome = (f"success: {'yes' if success else 'no'} | steps: {steps} | final qpos error: "
                   f"{np.max(info['error']):.3f} (max over qpos entries, angles wrapped; success below "
                   f"{env.success_tolerance})")
    else:
        outcome = (f"success: unknown (the goal image carries no pose) | steps: {steps} | final latent distance: "
                   f"{agent.latent_distance(obs):.3f}")
    if ended and not success:
        outcome += " | the env ended the episode without success"
    measures = env.report_metrics(start_info, info)  # the task's own; its tags (bools) are for lewm-eval's groups
    outcome += "".join(f" | {describe(k, v)}" for k, v in measures.items() if not isinstance(v, (bool, np.bool_)))
    env.close()
    print(f"{outcome} | {timing} | total {time.perf_counter() - started:.1f} s"
          + (f" | video: {args.video}" if args.video else ""))
    return 0


def latency_line(plan_seconds: list[float], block_seconds: float | None) -> str:
    """"planning: first plan 0.41 s, then median 62 ms per replan (p95 80 ms, 39 replans); the robot's
    action block lasts 200 ms: 3.2x faster than real time" (the first plan of an episode runs more iterations)."""
    if not plan_seconds:
        return "planning: no replan"
    warm = plan_seconds[1:] or plan_seconds
    median, p95 = np.median(warm) * 1e3, np.percentile(warm, 95) * 1e3
    text = (f"planning: first plan {plan_seconds[0]:.2f} s, then median {median:.0f} ms per replan (p95 {p95:.0f} "
            f"ms, {len(plan_seconds)} replan{'s' if len(plan_seconds) != 1 else ''})")
    if block_seconds:
        ratio = block_seconds * 1e3 / median
        pace = f"{ratio:.1f}x faster than real time" if ratio >= 1 else f"{1 / ratio:.1f}x slower than real time"
        text += f"; the action blocks it plans between last {block_seconds * 1e3:.0f} ms: {pace}"
    return text


def main(argv: list[str] | None = None) -> int:
    return run_cli("lewm-plan", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
