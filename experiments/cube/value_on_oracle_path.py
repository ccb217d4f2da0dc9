"""Does the cube's goal value read OGBench's long tasks right? Its blocks-to-go along the noiseless oracle's path.

For each of OGBench's five tasks (the free suite's pairs, seed 0), OGBench's own ``CubePlanOracle`` solves the task
from the start in the physics alone; every ``frameskip``-th state of its path is rendered and embedded. Printed per
task, along the path: the value from each frame to the goal image (should fall from about the path's length in
blocks to 0), the value from the start to each frame (should rise), and the latent distance to the goal (the
planners' default cost; squared Euclidean over 2 D).

    MUJOCO_GL=egl python experiments/cube/value_on_oracle_path.py --out experiments/cube/value_on_oracle_path.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from cube_oracle_subgoals import oracle_path  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default="world_model/checkpoints/cube")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="JSON file for the per-task series")
    args = p.parse_args(argv)

    import envs
    from agent.agent import make_agent

    torch.set_num_threads(1)
    agent = make_agent(args.checkpoint, planner="proposal", device="cpu", waypoints=None, subgoals=None)
    model, value = agent.world_model, agent.value
    env = envs.make_task_env(model.cfg.task, model.cfg.image_size)
    rng, records = np.random.default_rng(args.seed), []
    for e in range(5):
        start, goal = env.free_pair(rng, e)
        _, info = env.reset(options={"state": start, "goal_state": goal})
        with torch.inference_mode():
            path = oracle_path(env, 200)[:: model.cfg.frameskip]
            path_z = model.encode(torch.from_numpy(np.stack([env.render_state(q) for q in path]))).float()
            goal_z = model.encode(torch.from_numpy(np.asarray(info["goal"])[None])).float().expand(len(path_z), -1)
            record = {"task": env.task_name(e), "path_blocks": len(path_z) - 1,
                      "value_to_goal": value(path_z, goal_z).float().tolist(),
                      "value_from_start": value(path_z[:1].expand_as(path_z), path_z).float().tolist(),
                      "latent_distance_to_goal": ((path_z - goal_z) ** 2).sum(-1).div(2 * path_z.shape[-1]).tolist()}
        to_goal = np.array(record["value_to_goal"])
        record["value_rank_along_path"] = float(np.corrcoef(np.argsort(np.argsort(-to_goal)),
                                                            np.arange(len(to_goal)))[0, 1])
        records.append(record)
        print(f"{record['task']}: {record['path_blocks']} blocks; value to goal "
              f"{' '.join(f'{v:.1f}' for v in to_goal)}; rank along the path {record['value_rank_along_path']:.2f}",
              flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps({"args": vars(args), "tasks": records}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
