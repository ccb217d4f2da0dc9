"""Which of OGBench's cube task episodes does the directed waypoint graph find a path for, and what are the paths
like? Offline: the start and goal frames of ``lewm-eval --suite free``'s episodes (its draws, ``free_pairs``) are
embedded and searched, no episode is run (``experiments/cube/cube.md``, "Where the directed graph loses").

    MUJOCO_GL=egl python experiments/cube/cube_task_paths.py --out experiments/cube/cube_task_paths.json

Per seed: the episodes (task numbers) with no path, (a) when the goal enters the graph at its single nearest node
and the start is matched to its nearest node (the rule before this script), and (b) with the graph's own rule
(``WaypointGraph._search``: every node within ``link`` of the nearest one's distance; the start matched among the
nodes with a way to the goal); then, per link cost, the path length in nodes and the number of switches between
recordings along it (median over the episodes).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def walk(nxt: np.ndarray, node: int, limit: int = 1000) -> list[int]:
    """The nodes of the shortest path from ``node`` until the goal's entry (next-hop pointers)."""
    path = [node]
    while nxt[path[-1]] >= 0 and len(path) < limit:
        path.append(int(nxt[path[-1]]))
    return path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default="world_model/checkpoints/cube")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--episodes", type=int, default=25)
    p.add_argument("--link-costs", type=float, nargs="+", default=[1.0, 2.0, 3.0])
    p.add_argument("--out", help="JSON file for the results")
    args = p.parse_args(argv)

    from scipy.sparse.csgraph import dijkstra

    import envs
    from agent.evaluation import free_pairs
    from agent.waypoints import WaypointGraph, normalised_sq_distance
    from world_model import LeWM
    from world_model.model.frame_encoding import encode_frames

    torch.set_num_threads(2)
    folder = Path(args.checkpoint)
    model = LeWM.load(folder)
    graphs = {c: WaypointGraph.load(folder / "waypoints_directed.npz", link_cost=c) for c in args.link_costs}
    base = graphs[args.link_costs[0]]
    env = envs.make_task_env(model.cfg.task, model.cfg.image_size)
    env.reset(seed=0)
    results = {"checkpoint": str(folder), "nodes": len(base.episode), "seeds": {}}
    for seed in args.seeds:
        frames = []
        for pair in free_pairs(env, args.episodes, seed=seed):
            obs, info = env.reset(options={"state": pair.start, "goal_state": pair.goal})
            frames += [obs, info["goal"]]
        z = encode_frames(model, np.stack(frames), progress=False)
        start, goal = z[0::2], z[1::2]
        near = normalised_sq_distance(start, base.nodes).numpy()
        to_goal = normalised_sq_distance(goal, base.nodes).numpy()
        tasks = [i % 5 + 1 for i in range(args.episodes)]
        single = [not np.isfinite(dijkstra(base._backward, directed=True, indices=int(to_goal[i].argmin()))
                                  [int(near[i].argmin())]) for i in range(args.episodes)]
        paths = {}
        for cost, graph in graphs.items():
            lengths, switches, missing = [], [], []
            for i in range(args.episodes):
                hops, nxt = graph._search(goal[i])
                reachable = np.where(np.isfinite(hops), near[i], np.inf)
                if not np.isfinite(reachable).any():
                    missing.append(tasks[i])
                    continue
                path = walk(nxt, int(reachable.argmin()))
                lengths.append(len(path))
                switches.append(int((np.diff(graph.episode[path]) != 0).sum()))
            paths[str(cost)] = {"no_path_tasks": missing, "median_nodes": float(np.median(lengths)),
                                "median_recording_switches": float(np.median(switches))}
        results["seeds"][str(seed)] = {"no_path_tasks_single_entry": [t for t, s in zip(tasks, single) if s],
                                       "by_link_cost": paths}
        print(seed, json.dumps(results["seeds"][str(seed)]), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps({"args": vars(args), **results}, indent=1) + "\n")
    env.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
