"""Search failure or bad latent landscape? Open-loop plans against the data policy's own actions.

For LeWM-protocol pairs (start on a held-out trajectory, goal 25 env steps later), compares two 5-block action
sequences from the start frame: the data policy's recorded actions and CEM's plan. For each it prints the model's
cost (mean latent distance to the goal over the 5 predicted steps, and the terminal one) and the joint error
reached when the sequence is executed open loop in the real env. If the recorded actions cost less than CEM's
plan, the model knows the way and the planner did not find it.

    python experiments/diagnose_misses.py --pairs 2 3 5 16 26 --noise-corr 0     # independent noise
    python experiments/diagnose_misses.py --pairs 2 3 5 16 26 --noise-corr 0.8   # the agent's default
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import h5py
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import envs  # noqa: E402
from agent.agent import Agent  # noqa: E402
from envs.reacher import wrap_angle  # noqa: E402
from planners import CEM  # noqa: E402
from world_model import LeWM  # noqa: E402

CHECKPOINT = ROOT / "world_model" / "checkpoints" / "reacher"


def pair_rows(f, episodes: int, offset: int, seed: int) -> np.ndarray:
    """The dataset rows ``lewm_pairs`` draws (same rule, same generator)."""
    rows = np.concatenate([o + np.arange(max(0, n - offset)) for o, n in zip(f["ep_offset"][:], f["ep_len"][:])])
    return np.random.default_rng(seed).choice(rows, size=episodes, replace=len(rows) < episodes)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pairs", nargs="+", type=int, required=True, help="pair indices of a 50-episode lewm-eval run")
    p.add_argument("--noise-corr", type=float, default=0.8)
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    model = LeWM.load(CHECKPOINT)
    f = h5py.File(CHECKPOINT / "heldout_states.h5", "r")
    qpos, qvel, actions = f["qpos"][:], f["qvel"][:], f["action"][:]
    rows = pair_rows(f, args.episodes, 25, args.seed)
    env = envs.make("reacher").unwrapped
    low, high = Agent.planner_box(model)
    fs = model.cfg.frameskip

    def reset(r):
        return env.reset(options={"state": np.concatenate([qpos[r], qvel[r]]), "goal_state": qpos[r + 25]})

    def executed_error(r, raw_actions):
        reset(r)
        for a in raw_actions:
            *_, info = env.step(np.clip(a, -1, 1))
        return wrap_angle(info["qpos"] - info["goal_qpos"])

    for i in args.pairs:
        r = rows[i]
        obs, info = reset(r)
        with torch.inference_mode():
            z0 = model.encode(torch.as_tensor(obs.copy())[None, None])
            goal = model.encode(torch.as_tensor(info["goal"].copy())[None])

            def cost(candidates, terminal=False):
                d = (model.rollout(z0, None, candidates) - goal[:, None, None]).pow(2).sum(-1)
                return d[..., -1] if terminal else d.mean(-1)

            recorded = model.normalize_actions(torch.as_tensor(actions[r:r + 25], dtype=torch.float32)
                                               .reshape(1, 1, 5, 2 * fs))
            planner = CEM(horizon=5, action_dim=2 * fs, num_samples=300, n_iters=15, topk=30, seed=0,
                          action_low=low, action_high=high, substeps=fs, substep_correlation=args.noise_corr)
            plan = planner.plan(cost).actions[:, None]
            raw_plan = model.denormalize_actions(plan[0, 0]).reshape(-1, 2).numpy()
        for name, seq, raw in (("recorded", recorded, actions[r:r + 25]), ("CEM", plan, raw_plan)):
            print(f"pair {i:2d} {name:8s}: cost all {float(cost(seq)):6.1f}, terminal {float(cost(seq, True)):6.1f};"
                  f" executed open loop -> joint error {np.round(executed_error(r, raw), 2).tolist()} rad",
                  flush=True)


if __name__ == "__main__":
    main()
