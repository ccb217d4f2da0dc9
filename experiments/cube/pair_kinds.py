"""Success on a cube evaluation's pairs, split by what each pair asks: a grasp-and-lift (the cube must move) or
an arm motion alone (the cube stays where it is).

A pair needs a grasp when the goal's cube is more than ``--moved`` metres from the start's, or above the table
(its centre more than ``--lifted`` metres higher than resting). Reads the ``per_episode`` start and goal states
of ``lewm-eval``'s results.json (qpos first; the cube's position is qpos[14:17] in ``lewm/Cube-v0``).

    python experiments/cube/pair_kinds.py RESULTS.json [RESULTS.json ...]
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from agent.evaluation import wilson_interval

CUBE_XYZ = slice(14, 17)
RESTING_Z = 0.02  # the cube's centre on the table (m)


def needs_grasp(start: np.ndarray, goal: np.ndarray, moved: float, lifted: float) -> bool:
    cube_start, cube_goal = start[CUBE_XYZ], goal[CUBE_XYZ]
    return bool(np.linalg.norm(cube_goal - cube_start) > moved or cube_goal[2] - RESTING_Z > lifted)


def split(path: str, moved: float, lifted: float) -> dict:
    rows = json.load(open(path))
    rows = rows if isinstance(rows, list) else [rows]
    out = {}
    for row in rows:
        kinds = {"grasp and lift": [0, 0], "arm only": [0, 0]}
        for ep in row["per_episode"]:
            start = np.asarray(json.loads(ep["start"]) if isinstance(ep["start"], str) else ep["start"], float)
            goal = np.asarray(json.loads(ep["goal"]) if isinstance(ep["goal"], str) else ep["goal"], float)
            kind = "grasp and lift" if needs_grasp(start, goal, moved, lifted) else "arm only"
            kinds[kind][0] += bool(ep["success"])
            kinds[kind][1] += 1
        out[f"{row['planner']} ({row['suite']})"] = kinds
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("results", nargs="+", help="lewm-eval results.json files of the cube")
    p.add_argument("--moved", type=float, default=0.02, help="cube displacement that needs a grasp (m)")
    p.add_argument("--lifted", type=float, default=0.01, help="goal height above resting that needs a grasp (m)")
    args = p.parse_args(argv)
    print("| results | planner | pairs | success | 95% CI |\n|---|---|---|---|---|")
    for path in args.results:
        for planner, kinds in split(path, args.moved, args.lifted).items():
            for kind, (ok, n) in kinds.items():
                lo, hi = wilson_interval(ok, n)
                frac = f"{ok}/{n} ({100 * ok / n:.0f} %)" if n else "0/0"
                print(f"| {path} | {planner} | {kind} | {frac} | {100 * lo:.0f}–{100 * hi:.0f} % |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
