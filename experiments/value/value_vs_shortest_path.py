"""How well a goal value knows the true way: its blocks against the shortest path, on two rooms and the point mass.

The held-out diagnostic of ``lewm-train-value`` ranks goals *along the data's own episodes*, which the data's
wander bounds from above. Two rooms and the point mass have a known answer instead: the shortest path between two
free positions is straight (within a room; the point mass's arena is open) and passes through the door between
two rooms. At the agent's top speed that path is a lower bound on the blocks a goal is away (two rooms: 0.2 m/s,
0.04 m per 5-step action block; point mass: 0.1 m/s, 0.02 m). This script renders random free positions, embeds
them with the checkpoint's encoder, and reports Spearman's rank correlation of ``d(z, g)`` with that length:
pooled, per goal (does it order the starts for one goal), and over the far pairs only (two rooms: other-room
pairs; point mass: pairs over 0.3 m apart).

    python experiments/value/value_vs_shortest_path.py --task tworoom          # the shipped value
    python experiments/value/value_vs_shortest_path.py --task pointmass --value /tmp/other/value.safetensors

About 5 s on a 2-core CPU.
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import torch
from scipy.stats import spearmanr

from agent.latent_cost import value_blocks
from envs.registry import make
from envs.point_mass import ARENA_HALF_WIDTH, MASS_RADIUS
from envs.two_room import AGENT_RADIUS, DOOR_CENTRE_Y, DOOR_HALF_WIDTH, FREE_HALF_WIDTH, is_free
from world_model import LeWM
from world_model.policies.value import GoalValue

METRES_PER_BLOCK = {"tworoom": 0.2 * 0.04 * 5, "pointmass": 0.1 * 0.04 * 5}  # top speed x env step (s) x frameskip


def shortest_path(start: np.ndarray, goal: np.ndarray) -> float:
    """Length (m) of the shortest path for the agent's centre between two free positions (x, y): straight in one
    room, else through the door's free opening (the wall's corners inflated by the agent's radius)."""
    if (start[0] < 0) == (goal[0] < 0):
        return float(np.linalg.norm(start - goal))
    door_y = np.linspace(DOOR_CENTRE_Y - DOOR_HALF_WIDTH + AGENT_RADIUS, DOOR_CENTRE_Y + DOOR_HALF_WIDTH - AGENT_RADIUS,
                         81)
    door = np.stack([np.zeros_like(door_y), door_y], 1)
    return float((np.linalg.norm(door - start, axis=1) + np.linalg.norm(door - goal, axis=1)).min())


def free_positions(task: str, count: int, rng: np.random.Generator) -> np.ndarray:
    """(count, 2) random positions (m) where the agent overlaps no wall."""
    if task == "pointmass":
        return rng.uniform(-(ARENA_HALF_WIDTH - MASS_RADIUS), ARENA_HALF_WIDTH - MASS_RADIUS, (count, 2))
    out = []
    while len(out) < count:
        q = rng.uniform(-FREE_HALF_WIDTH, FREE_HALF_WIDTH, 2)
        if is_free(q):
            out.append(q)
    return np.array(out)


def geodesic_check(task: str, model: LeWM, value: GoalValue, starts: int = 300, goals: int = 30,
                   seed: int = 5) -> dict:
    """Spearman of the value's blocks with the shortest-path blocks over ``starts x goals`` random pairs."""
    rng = np.random.default_rng(seed)
    env = make(task).unwrapped
    env.reset(seed=0)
    points = free_positions(task, starts + goals, rng)
    with torch.inference_mode():
        z = model.encode(np.stack([env.render_state(q).copy() for q in points]))
        blocks = value_blocks(value, z[:starts, None], z[None, starts:]).numpy()
    env.close()
    path = shortest_path if task == "tworoom" else lambda p, g: float(np.linalg.norm(p - g))
    truth = np.array([[path(p, g) / METRES_PER_BLOCK[task] for g in points[starts:]] for p in points[:starts]])
    if task == "tworoom":
        far = (points[:starts, None, 0] < 0) != (points[None, starts:, 0] < 0)  # the other room
    else:
        far = truth * METRES_PER_BLOCK[task] > 0.3
    per_goal = [spearmanr(blocks[:, j], truth[:, j]).statistic for j in range(goals)]
    return {"pairs": int(blocks.size), "spearman": float(spearmanr(blocks.ravel(), truth.ravel()).statistic),
            "spearman_per_goal": float(np.mean(per_goal)),
            "spearman_far": float(spearmanr(blocks[far], truth[far]).statistic),
            "mean_blocks_over_shortest": float((blocks / np.maximum(truth, 1.0)).mean())}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", choices=("tworoom", "pointmass"), default="tworoom")
    p.add_argument("--checkpoint", help="default: the task's shipped checkpoint")
    p.add_argument("--value", help="value file or folder (default: the checkpoint's)")
    p.add_argument("--starts", type=int, default=300)
    p.add_argument("--goals", type=int, default=30)
    p.add_argument("--seed", type=int, default=5)
    args = p.parse_args(argv)
    checkpoint = args.checkpoint or f"world_model/checkpoints/{args.task}"
    model = LeWM.load(checkpoint)
    value = GoalValue.load(args.value or checkpoint)
    print(json.dumps(geodesic_check(args.task, model, value, args.starts, args.goals, args.seed), indent=1))


if __name__ == "__main__":
    main()
