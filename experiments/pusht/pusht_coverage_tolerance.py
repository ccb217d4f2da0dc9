"""How precisely gym-pusht's own success (coverage > 95 %) asks the T to be placed, in world px and image px.

Shifts and turns the block away from the target pose (256, 256, pi/4) and prints the coverage gym-pusht computes
(``PushTEnv.coverage``, its shapely overlap), beside what one pixel of the model's image spans. Usage::

    python experiments/pusht/pusht_coverage_tolerance.py [--image-size 64]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

WORLD_PX = 512.0  # gym-pusht's workspace side


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--image-size", type=int, default=64, help="the model's image side in pixels")
    args = p.parse_args()
    import gymnasium as gym

    import envs  # noqa: F401  (registers lewm/PushT-v0)

    env = gym.make("lewm/PushT-v0").unwrapped
    env.reset(seed=0)
    goal = np.array([100.0, 100.0, 256.0, 256.0, np.pi / 4])
    print(f"one image pixel at {args.image_size} px spans {WORLD_PX / args.image_size:.1f} world px")
    print("| block moved | coverage along x | coverage diagonally |\n|---|---|---|")
    for shift in (1, 2, 3, 4, 6, 8, 16):
        along, diagonal = goal.copy(), goal.copy()
        along[2] += shift
        diagonal[2:4] += shift / np.sqrt(2)
        print(f"| {shift} px | {env.coverage(along, goal):.3f} | {env.coverage(diagonal, goal):.3f} |")
    print("| block turned | coverage |\n|---|---|")
    for degrees in (1, 2, 3, 5, 8, 20):
        turned = goal.copy()
        turned[4] += np.radians(degrees)
        print(f"| {degrees} deg | {env.coverage(turned, goal):.3f} |")


if __name__ == "__main__":
    main()
