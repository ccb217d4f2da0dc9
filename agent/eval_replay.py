"""What makes a ``lewm-eval`` record reproducible: videos of its failed episodes, and one episode run again.

Each run in ``results.json`` carries ``replay``: the ``make_agent`` arguments it was evaluated with and the
success tolerance; each of its ``per_episode`` entries the episode's ``start`` state (qpos then qvel) and ``goal``
(qpos). :func:`replay` rebuilds that agent, re-seeds its planner as the run's group of that episode was seeded,
and runs the one episode from that start to that goal. Alone it is planned in a batch of one, not with the run's
other episodes, so a sampling planner draws other candidates: the outcome can differ, and :func:`replay` says
whether it did.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from common.cli_errors import UserInputError

VIDEO_FPS = 10


def episode_frames(frames: list[np.ndarray], goal: np.ndarray, side: int = 256) -> list[np.ndarray]:
    """Each frame beside the goal image, both scaled up to about ``side`` px, a white gap between (uint8)."""
    goal = np.asarray(goal, np.uint8)
    scale = max(1, side // goal.shape[0])
    big = lambda img: np.kron(np.asarray(img, np.uint8), np.ones((scale, scale, 1), np.uint8))  # noqa: E731
    gap = np.full((goal.shape[0] * scale, 16, 3), 255, np.uint8)
    return [np.concatenate([big(f), gap, big(goal)], 1) for f in frames]


def video_name(run: dict, episode: int) -> str:
    """``reacher_lewm_mppi-waypoints_ep007.mp4``: the run and episode a failure video shows."""
    label = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{run['task']}_{run['suite']}_{run['planner']}")
    return f"{label}_ep{episode:03d}.mp4"


def failure_videos(run: dict, frames: list[dict], out_dir) -> list[Path]:
    """Writes a video of every failed episode of ``run`` (a ``results.json`` entry) into ``out_dir``.

    Args:
        frames: per episode ``{"frames": [...], "goal": image}`` (``agent.evaluation.run_episodes``' frames_out).
    """
    from agent.video import write_video

    written = []
    for i, (record, shown) in enumerate(zip(run["per_episode"], frames)):
        if record["success"]:
            continue
        path = Path(out_dir) / video_name(run, i)
        write_video(path, episode_frames(shown["frames"], shown["goal"]), fps=VIDEO_FPS)
        written.append(path)
    return written


def load_run(results_path, episode: int, run_index: int | None) -> tuple[dict, dict]:
    """The run and the episode record to replay from a ``results.json``; one-line errors for a file without them."""
    try:
        runs = json.loads(Path(results_path).read_text())
    except (OSError, ValueError) as exc:
        raise UserInputError(f"--replay {results_path}: cannot read it as lewm-eval's results.json ({exc})") from None
    if not isinstance(runs, list) or not runs:
        raise UserInputError(f"--replay {results_path}: holds no runs")
    if run_index is None:
        if len(runs) > 1:
            raise UserInputError(f"--replay {results_path} holds {len(runs)} runs; pick one with --replay-run N "
                                 f"(0 to {len(runs) - 1}: " + ", ".join(f"{r['task']}/{r['suite']}/{r['planner']}"
                                                                         for r in runs) + ")")
        run_index = 0
    if not 0 <= run_index < len(runs):
        raise UserInputError(f"--replay-run {run_index}: {results_path} holds runs 0 to {len(runs) - 1}")
    run = runs[run_index]
    episodes = run.get("per_episode", [])
    if not 0 <= episode < len(episodes):
        raise UserInputError(f"--replay episode {episode}: the run holds episodes 0 to {len(episodes) - 1}")
    record = episodes[episode]
    if not record.get("start") or "replay" not in run:
        raise UserInputError(f"--replay {results_path}: its episodes carry no start and goal states (written by an "
                             f"earlier lewm-eval); evaluate again to record them")
    return run, record


def replay(results_path, episode: int, run_index: int | None = None, device: str = "auto", video=None,
           progress: bool = True) -> str:
    """Runs episode ``episode`` of a recorded run again; returns a line comparing the two outcomes."""
    from agent import evaluation
    from agent.agent import make_agent

    run, record = load_run(results_path, episode, run_index)
    settings = run["replay"]
    agent = make_agent(run["checkpoint"], device=device, task=run["task"], **settings["agent"])
    group = episode // max(1, int(run["settings"].get("envs_at_once") or 1))
    if hasattr(evaluation, "seed_group"):
        evaluation.seed_group(agent, run["settings"].get("seed", 0), group)
    make_env = evaluation.task_env_factory(agent, run["task"], run["suite"], settings.get("tolerance"))
    pair = evaluation.Pair(np.asarray(record["start"], np.float64), np.asarray(record["goal"], np.float64))
    frames = [] if video else None
    (result,), _, _ = evaluation.run_episodes(make_env, agent, [pair], int(run["budget"]), progress=progress,
                                              desc=f"replay {episode}", frames_out=frames)
    if video:
        from agent.video import write_video

        write_video(video, episode_frames(frames[0]["frames"], frames[0]["goal"]), fps=VIDEO_FPS)
    unit = run.get("error_unit", "")

    def outcome(e) -> str:
        return (f"success {'yes' if e['success'] else 'no'}, {e['steps']} steps, final error "
                f"{e['final_error']:.3f} {unit}".rstrip())

    same = bool(result.success) == bool(record["success"])
    return (f"episode {episode} of {run['task']}/{run['suite']}/{run['planner']}: recorded {outcome(record)}; "
            f"replayed {outcome(vars(result))}"
            + ("" if same else " (another outcome: alone, the episode is planned in a batch of one, so the planner "
                               "draws other samples than in the run)")
            + (f" | video: {video}" if video else ""))
