"""Can the cube's low level do OGBench's long tasks when it is handed the right subgoals?

Splits the failure of OGBench's five single-cube tasks (0/50, ``experiments/cube/cube.md``) into its two
halves. For each task episode, OGBench's own scripted oracle (``CubePlanOracle``, no noise) first solves the task
from the same start in the physics alone; its states every action block are rendered and embedded. The agent's
low level (``--planner``: the checkpoint's proposal policy alone by default, or a planner seeded by it) then acts
from the start with, as goal, the oracle's embedding ``--lead`` blocks ahead of the agent's own progress along that
path (the final goal image once the path runs out).

    MUJOCO_GL=egl python experiments/cube/cube_oracle_subgoals.py --episodes 10 --lead 2

``--lead 0`` hands the policy the final goal image from the start (the shipped agent). Success is OGBench's: the
cube within 4 cm of the goal cube, at any step of the 200.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch


def oracle_path(env, max_steps: int) -> list[np.ndarray]:
    """qpos (21,) after every step of OGBench's noiseless oracle from the env's current state until it is done
    (the first entry is the start); the env is restored afterwards."""
    from envs.cube_oracle import CubeOraclePolicy

    saved = env._data.qpos.copy(), env._data.qvel.copy()
    oracle = CubeOraclePolicy(env, np.random.default_rng(0), noise=0.0)
    path = [env._data.qpos.copy()]
    for _ in range(max_steps):
        env._move(oracle(None, env.compute_ob_info()))
        path.append(env._data.qpos.copy())
        if oracle.oracle.done:
            break
    env.set_state(*saved)
    return path


class OraclePathSubgoals:
    """A perfect high level for one episode: ``subgoals(current, goal)`` hands the agent the oracle's embedding
    ``lead`` blocks beyond the one nearest its current embedding (searched from its progress so far, so it never
    goes back), or the goal once the path runs out; ``lead`` 0 hands the goal itself."""

    def __init__(self, path_z: torch.Tensor, lead: int):
        self.path_z, self.lead, self.progress = path_z, lead, 0

    def subgoals(self, current: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        z = current[:1].to(self.path_z.dtype).cpu()
        self.progress += int(((self.path_z[self.progress:] - z) ** 2).sum(-1).argmin())
        if self.lead == 0 or self.progress + self.lead >= len(self.path_z):
            return goal.expand(current.shape[0], -1)
        return self.path_z[self.progress + self.lead].to(goal.device, goal.dtype).expand(current.shape[0], -1)


def run_episode(env, agent, start, goal, lead: int, max_steps: int) -> dict:
    """One episode; success, final cube-to-goal distance, how close the gripper came to the cube and how high
    the cube was lifted (m), the oracle's length and how far along its path the agent got (blocks)."""
    model = agent.world_model
    obs, info = env.reset(options={"state": start, "goal_state": goal})
    with torch.inference_mode():
        path = oracle_path(env, max_steps)[:: model.cfg.frameskip]
        path_z = model.encode(torch.from_numpy(np.stack([env.render_state(q) for q in path]))).float()
    agent.waypoints = OraclePathSubgoals(path_z, lead)
    agent.set_goal(info["goal"])
    agent.reset()
    solved_at = None
    for step in range(1, max_steps + 1):
        obs, _, _, _, info = env.step(agent.act(obs))
        if info["success"] and solved_at is None:
            solved_at = step
    return {"success": solved_at is not None, "solved_at": solved_at, "final_distance": info["distance"],
            "closest_gripper_to_cube": info["closest_reach"], "highest_lift": info["highest_lift"],
            "oracle_steps": (len(path) - 1) * model.cfg.frameskip, "progress_blocks": agent.waypoints.progress}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default="world_model/checkpoints/cube")
    p.add_argument("--episodes", type=int, default=10, help="episodes, cycling through OGBench's five tasks")
    p.add_argument("--lead", type=int, default=2, help="blocks ahead on the oracle's path; 0: the final goal")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--planner", default="proposal", help="the agent's planner (proposal, mppi, cem, ...)")
    p.add_argument("--no-proposal", action="store_true", help="plan without the proposal policy (search alone)")
    p.add_argument("--samples", type=int, help="planner samples per iteration (default: the checkpoint's)")
    p.add_argument("--iters", type=int, help="planner iterations (default: the checkpoint's)")
    p.add_argument("--replan-steps", type=int, help="env steps between two plans (default: one action block)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="JSON file for the per-episode records")
    args = p.parse_args(argv)

    import envs
    from agent.agent import make_agent

    torch.set_num_threads(1)
    search = {k: v for k, v in (("num_samples", args.samples), ("n_iters", args.iters)) if v is not None}
    agent = make_agent(args.checkpoint, planner=args.planner, device="cpu", waypoints=None, subgoals=None,
                       proposal=None if args.no_proposal else "auto", replan_steps=args.replan_steps, **search)
    # the checkpoint's task (cube); observations: (S, S, 3) uint8 frames
    env = envs.make_task_env(agent.world_model.cfg.task, agent.world_model.cfg.image_size)
    rng = np.random.default_rng(args.seed)
    records, t0 = [], time.time()
    for e in range(args.episodes):
        start, goal = env.free_pair(rng, e)
        r = run_episode(env, agent, start, goal, args.lead, args.steps)
        r["task"] = env.task_name(e)
        records.append(r)
        print(json.dumps(r), flush=True)
    wins = sum(r["success"] for r in records)
    median = {k: np.median([r[k] for r in records]) for k in ("final_distance", "closest_gripper_to_cube")}
    lifted = sum(r["highest_lift"] > 0.02 for r in records)
    print(f"{args.planner}, lead {args.lead}: {wins}/{len(records)} solved, {lifted} lifted the cube 2 cm; median "
          f"final distance {median['final_distance']:.3f} m, closest gripper-cube "
          f"{median['closest_gripper_to_cube']:.3f} m; {time.time() - t0:.0f} s")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"args": vars(args), "episodes": records}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
