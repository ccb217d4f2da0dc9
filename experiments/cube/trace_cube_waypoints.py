"""Trace one OGBench cube task episode through a directed waypoint graph: where the agent is, which data node it
is matched to, and which node it aims at, every action block. Explains a miss of ``lewm-eval --suite free``
(``experiments/cube/cube.md``, "Where the directed graph loses").

    MUJOCO_GL=egl python experiments/cube/trace_cube_waypoints.py --seed 1 --episode 1

Per block: the env step, the gripper's and the cube's position (m, true state), the node the frame was matched
to, as ``recording/block`` (the graph's episode id and the block's index in it), with its latent distance
(normalised, as the graph's), and the node aimed at (or the goal itself).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default="world_model/checkpoints/cube")
    p.add_argument("--waypoint-file", default=None, help="default: CHECKPOINT/waypoints_directed.npz")
    p.add_argument("--seed", type=int, default=0, help="lewm-eval's --seed (the draw of the task episodes)")
    p.add_argument("--episode", type=int, default=0, help="episode index in that draw (task = index %% 5 + 1)")
    p.add_argument("--steps", type=int, default=200)
    args = p.parse_args(argv)

    import envs
    from agent.evaluation import free_pairs
    from agent.agent import make_agent

    torch.set_num_threads(2)
    graph_file = args.waypoint_file or str(Path(args.checkpoint) / "waypoints_directed.npz")
    agent = make_agent(args.checkpoint, planner="proposal", waypoints=graph_file)
    graph = agent.waypoints
    first = {e: int(np.flatnonzero(graph.episode == e)[0]) for e in np.unique(graph.episode)}
    name = lambda node: f"{graph.episode[node]}/{node - first[graph.episode[node]]}"  # noqa: E731
    seen = {}
    match = graph._match

    def traced_match(near, nxt, last):
        node = match(near, nxt, last)
        seen["node"], seen["distance"] = node, float(near[node])
        return node

    graph._match = traced_match
    env = envs.make_task_env(agent.world_model.cfg.task, agent.image_size)
    env.reset(seed=0)
    pair = free_pairs(env, args.episode + 1, seed=args.seed)[args.episode]
    obs, info = env.reset(options={"state": pair.start, "goal_state": pair.goal})
    print(f"task {env.task_name(args.episode)}: cube {pair.start[14:17].round(3)} -> {pair.goal[14:17].round(3)}")
    agent.set_goal(info["goal"])
    for t in range(args.steps):
        seen.clear()
        obs, _, _, _, info = env.step(agent.act(obs))
        if t % agent.frameskip == 0:  # a replan: what it matched and aimed at
            gap = (graph.nodes - agent._state.target[0].float().cpu()).abs().amax(1)  # exact: cdist rounds
            aim = name(int(gap.argmin())) if float(gap.min()) < 1e-6 else "the goal"
            at = f"{name(seen['node'])} (latent distance {seen['distance']:.3f})" if seen else "-"
            print(f"{t:3d} gripper {env.compute_ob_info()['proprio/effector_pos'].round(3)} cube "
                  f"{env.unwrapped._data.qpos[14:17].round(3)} at {at} -> {aim}")
        if info.get("success"):
            print(f"success at step {t + 1}")
            break
    env.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
