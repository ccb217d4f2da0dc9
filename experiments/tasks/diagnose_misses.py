"""Search failure or bad latent landscape? Open-loop plans against the data policy's own actions.

For LeWM-protocol pairs (start on a held-out trajectory, goal 25 env steps later), compares two 5-block action
sequences from the start frame: the data policy's recorded actions and CEM's plan. For each it prints the model's
cost (mean latent distance to the goal over the 5 predicted steps, and the terminal one) and the error to the goal
(the task's unit: rad per joint for reacher, metres for the position tasks) reached when the sequence is executed
open loop in the real env. If the recorded actions cost less than CEM's plan, the model knows the way and the
planner did not find it. For position tasks it also prints the start, goal and end positions.

    python experiments/tasks/diagnose_misses.py --pairs 2 3 5 16 26 --noise-corr 0     # independent noise
    python experiments/tasks/diagnose_misses.py --pairs 2 3 5 16 26 --noise-corr 0.8   # the agent's default
    python experiments/tasks/diagnose_misses.py --env tworoom --pairs 1 6 26 27 32 33 34 37 48
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import h5py
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
import envs  # noqa: E402
from agent.agent import Agent  # noqa: E402
from agent.evaluation import goal_error, lewm_pair_rows  # noqa: E402
from planners import CEM  # noqa: E402
from world_model import LeWM  # noqa: E402

GOAL_OFFSET = 25


@torch.inference_mode()
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", default="reacher", choices=sorted(envs.TASKS))
    p.add_argument("--pairs", nargs="+", type=int, required=True, help="pair indices of a 50-episode lewm-eval run")
    p.add_argument("--noise-corr", type=float, default=0.8)
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint", help="checkpoint folder (default: the task's shipped model)")
    p.add_argument("--heldout", help="held-out trajectories with qpos, qvel, action (default: the checkpoint's "
                   "heldout_states.h5)")
    args = p.parse_args()

    checkpoint = Path(args.checkpoint) if args.checkpoint else ROOT / "world_model" / "checkpoints" / args.env
    model = LeWM.load(checkpoint)
    f = h5py.File(args.heldout or checkpoint / "heldout_states.h5", "r")
    qpos, qvel, actions = f["qpos"][:], f["qvel"][:], f["action"][:]
    rows = lewm_pair_rows(f["ep_len"][:], f["ep_offset"][:], args.episodes, GOAL_OFFSET, args.seed)
    env = envs.make(args.env).unwrapped
    low, high = Agent.planner_box(model)
    fs, blocks = model.cfg.frameskip, GOAL_OFFSET // model.cfg.frameskip
    act_dim = model.cfg.action_block_dim // fs
    position_task = "distance" in env.reset()[1]

    def reset(r):
        return env.reset(options={"state": np.concatenate([qpos[r], qvel[r]]), "goal_state": qpos[r + GOAL_OFFSET]})

    def executed(r, raw_actions):
        reset(r)
        for a in raw_actions:
            *_, info = env.step(np.clip(a, -1, 1))
        error = goal_error(info) if position_task else np.abs(info["error"])
        return np.round(error, 3).tolist(), info["qpos"]

    for i in args.pairs:
        r = rows[i]
        obs, info = reset(r)
        if position_task:
            start, goal = np.round(qpos[r], 3).tolist(), np.round(qpos[r + GOAL_OFFSET], 3).tolist()
            print(f"pair {i:2d}: start {start}, goal {goal} ({goal_error(info):.3f} m apart)")
        with torch.inference_mode():
            z0 = model.encode(torch.as_tensor(obs.copy())[None, None])
            goal = model.encode(torch.as_tensor(info["goal"].copy())[None])

            def cost(candidates, terminal=False):
                d = (model.rollout(z0, None, candidates) - goal[:, None, None]).pow(2).sum(-1)
                return d[..., -1] if terminal else d.mean(-1)

            recorded = model.normalize_actions(torch.as_tensor(actions[r:r + GOAL_OFFSET], dtype=torch.float32)
                                               .reshape(1, 1, blocks, fs * act_dim))
            planner = CEM(horizon=blocks, action_dim=fs * act_dim, num_samples=300, n_iters=15, topk=30, seed=0,
                          action_low=low, action_high=high, substeps=fs, substep_correlation=args.noise_corr)
            plan = planner.plan(cost).actions[:, None]
            raw_plan = model.denormalize_actions(plan[0, 0]).reshape(-1, act_dim).numpy()
        for name, seq, raw in (("recorded", recorded, actions[r:r + GOAL_OFFSET]), ("CEM", plan, raw_plan)):
            error, end = executed(r, raw)
            where = f", ends at {np.round(end, 3).tolist()}" if position_task else ""
            print(f"pair {i:2d} {name:8s}: cost all {float(cost(seq)):6.1f}, terminal {float(cost(seq, True)):6.1f};"
                  f" executed open loop -> error {error}{where}", flush=True)


if __name__ == "__main__":
    main()
