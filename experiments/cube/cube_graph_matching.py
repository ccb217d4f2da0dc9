"""How well can the cube agent tell where it is in its data, and how far are OGBench's goals? Two measures behind
the directed waypoint graph of ``experiments/cube/cube.md`` ("A directed graph over the data").

1. *Matching*: held-out frames (``heldout_states.h5`` of the checkpoint, rendered) are matched to their nearest
   node of the graph (``waypoints_directed.npz``: the training data's frames one block apart, in file order), in
   the latent, in a state space read off the latent (``agent.waypoint_space``), and in true state (the coverage
   floor: the nearest node by gripper and cube position). Reported: the gripper's and the cube's position error
   of the matched node, median and 90th percentile (m).
2. *Goal distances*: the latent distance (normalised, as the graph's) from start to goal for goals 25 steps ahead
   on the held-out recordings (the LeWM protocol's pairs) and for OGBench's five tasks (``free_pair``).

    MUJOCO_GL=egl python experiments/cube/cube_graph_matching.py --data data/cube_shadows_train.h5 \
        --out experiments/cube/cube_graph_matching.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def positions(env, qpos: np.ndarray) -> np.ndarray:
    """(N, 21) states -> (N, 6) gripper x, y, z and cube x, y, z (m)."""
    from envs.cube import CUBE_XYZ

    out = []
    for q in qpos:
        env.set_state(q)
        out.append(np.concatenate([env.compute_ob_info()["proprio/effector_pos"], q[CUBE_XYZ]]))
    return np.stack(out)


def errors(matched: np.ndarray, true: np.ndarray) -> dict:
    """Gripper and cube position errors (m) of matched nodes: median and 90th percentile."""
    grip, cube = (np.linalg.norm(matched[:, s] - true[:, s], axis=1) for s in (slice(0, 3), slice(3, 6)))
    return {f"{name}_{q}": round(float(np.percentile(e, p)), 4)
            for name, e in (("gripper", grip), ("cube", cube)) for q, p in (("median", 50), ("p90", 90))}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default="world_model/checkpoints/cube")
    p.add_argument("--data", required=True, help="the HDF5 data the graph was built from (its qpos)")
    p.add_argument("--every", type=int, default=17, help="match every this many-th held-out frame")
    p.add_argument("--pairs", type=int, default=200, help="held-out 25-step pairs for the goal distances")
    p.add_argument("--tasks", type=int, default=25, help="OGBench task episodes for the goal distances")
    p.add_argument("--out", help="JSON file for the results")
    args = p.parse_args(argv)

    import h5py
    from scipy.spatial import cKDTree

    import envs
    from agent.waypoint_space import state_space
    from agent.waypoints import WaypointGraph, normalised_sq_distance
    from world_model import LeWM
    from world_model.model.frame_encoding import encode_frames

    torch.set_num_threads(2)
    folder = Path(args.checkpoint)
    model = LeWM.load(folder)
    graph = WaypointGraph.load(folder / "waypoints_directed.npz")
    env = envs.make_task_env(model.cfg.task, model.cfg.image_size)
    env.reset(seed=0)
    with h5py.File(args.data) as f:  # the graph's rows: every frameskip-th frame of each episode, in file order
        rows = np.concatenate([o + np.arange(0, n, model.cfg.frameskip) for o, n in zip(f["ep_offset"][:],
                                                                                         f["ep_len"][:])])
        node_qpos = f["qpos"][:][rows[: len(graph.episode)]]
    node_pos = positions(env, node_qpos)
    with h5py.File(folder / "heldout_states.h5") as f:
        qpos, ep_offset, ep_len = f["qpos"][:], f["ep_offset"][:], f["ep_len"][:]
    held = np.arange(0, len(qpos), args.every)
    frames = np.stack([env.render_state(q) for q in qpos[held]])
    z = encode_frames(model, frames, progress=False)
    true = positions(env, qpos[held])
    w, b, _, _ = state_space(model, graph.nodes, node_qpos, graph.episode)
    state = lambda x: x @ torch.from_numpy(w) + torch.from_numpy(b)  # noqa: E731
    results = {"frames": len(held), "nodes": len(graph.episode), "matching": {
        "latent": errors(node_pos[normalised_sq_distance(z, graph.nodes).argmin(1).numpy()], true),
        "state_space": errors(node_pos[normalised_sq_distance(state(z), state(graph.nodes)).argmin(1).numpy()],
                              true),
        "true_state_floor": errors(node_pos[cKDTree(node_pos).query(true)[1]], true)}}

    rng = np.random.default_rng(0)
    episodes = rng.integers(len(ep_offset), size=args.pairs)
    starts = ep_offset[episodes] + rng.integers(0, ep_len[episodes] - 25)
    pair_frames = np.stack([env.render_state(qpos[i]) for i in np.concatenate([starts, starts + 25])])
    zp = encode_frames(model, pair_frames, progress=False)
    near = ((zp[: args.pairs] - zp[args.pairs:]) ** 2).sum(-1) / (2 * zp.shape[1])
    task_d = []
    for i in range(args.tasks):
        start, goal = env.free_pair(rng, i)
        obs, info = env.reset(options={"state": start, "goal_state": goal})
        zt = encode_frames(model, np.stack([obs, info["goal"]]), progress=False)
        task_d.append(float(((zt[0] - zt[1]) ** 2).sum() / (2 * zt.shape[1])))
    pct = lambda d: {str(q): round(float(np.percentile(d, q)), 3) for q in (10, 50, 90)}  # noqa: E731
    results["goal_distance"] = {"lewm_pairs_25_steps": pct(near.numpy()), "ogbench_tasks": pct(task_d)}
    print(json.dumps(results, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps({"args": vars(args), **results}, indent=1) + "\n")
    env.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
