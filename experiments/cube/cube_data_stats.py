"""What cube data cover: cube motion, lifting and the LeWM protocol's trivial pairs (``experiments/cube/cube.md``).

    python experiments/cube/cube_data_stats.py data/cube_heldout.h5 [data/cube.h5 ...]
"""

from __future__ import annotations

import sys

import h5py
import numpy as np

from agent.evaluation import lewm_pair_rows
from envs.cube import CUBE_REST_Z, CUBE_XYZ, SUCCESS_DISTANCE


def main(paths: list[str]) -> None:
    for path in paths:
        with h5py.File(path, "r") as f:
            qpos, lengths, offsets = f["qpos"][:], f["ep_len"][:], f["ep_offset"][:]
        cube = qpos[:, CUBE_XYZ]
        rows = lewm_pair_rows(lengths, offsets, None, 25, 0)
        move25 = np.linalg.norm(cube[rows] - cube[rows + 25], axis=1)
        episode = np.repeat(np.arange(len(lengths)), lengths)
        step_move = np.linalg.norm(np.diff(cube, axis=0), axis=1)[episode[1:] == episode[:-1]]
        net = [np.linalg.norm(cube[o + n - 1] - cube[o]) for o, n in zip(offsets, lengths)]
        print(f"{path}: {len(qpos)} frames, {len(lengths)} episodes; cube moves (> 1 mm) in "
              f"{100 * (step_move > 0.001).mean():.1f} % of steps, lifted (z > 3 cm) in "
              f"{100 * (cube[:, 2] > CUBE_REST_Z + 0.01).mean():.1f} % of frames; net displacement per episode "
              f"{np.mean(net):.3f} m; LeWM pairs already a success {100 * (move25 <= SUCCESS_DISTANCE).mean():.1f} %, "
              f"median cube move over 25 steps {np.median(move25):.3f} m")


if __name__ == "__main__":
    main(sys.argv[1:])
