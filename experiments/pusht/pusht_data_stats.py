"""What a Push-T dataset covers, and the measurement behind the relative action convention.

    python experiments/pusht/pusht_data_stats.py data/pusht_heldout.h5

Prints (from the states and actions alone; no pixels are read):
- how much the block moves: fraction of steps it moves more than 0.5 px, net displacement and total rotation per
  episode, and from which sides it is pushed (the pusher's bearing from the block's centre while it moves, in
  eight 45-degree sectors of the block's own frame);
- how far LeWM-protocol goals (25 steps ahead) are: median pusher and block displacement and block rotation, and
  how many such pairs are already a success at the start, under the pose test and under coverage;
- the action convention: R^2 of a linear fit of the pusher's displacement over one step (and over one 5-step
  action block) from the actions alone, written as relative offsets (ours) or as the absolute targets they
  command (gym-pusht's convention).
"""

from __future__ import annotations

import argparse

import h5py
import numpy as np

from envs.pusht import ACTION_SCALE, TABLE_HIGH, TABLE_LOW, PushTEnv, block_centre, wrap_angle


def r_squared(x: np.ndarray, y: np.ndarray) -> float:
    """R^2 of the least-squares affine fit y ~ x (summed over y's columns)."""
    x = np.c_[x, np.ones(len(x))]
    w, *_ = np.linalg.lstsq(x, y, rcond=None)
    return float(1 - (y - x @ w).var(0).sum() / y.var(0).sum())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", help="a Push-T dataset written by lewm-collect --env pusht")
    args = p.parse_args()
    with h5py.File(args.data, "r") as f:
        qpos, action = f["qpos"][:].astype(np.float64), f["action"][:].astype(np.float64)
        lengths, offsets = f["ep_len"][:], f["ep_offset"][:]
    env = PushTEnv(image_size=16)
    moving, net, turned, trivial_pose, trivial_cov, bearings, ahead = [], [], [], [], [], [], []
    for off, n in zip(offsets, lengths):
        q = qpos[off: off + n]
        step = np.linalg.norm(np.diff(q[:, 2:4], axis=0), axis=1)
        moving.append(np.mean(step > 0.5))
        net.append(np.linalg.norm(q[-1, 2:4] - q[0, 2:4]))
        turned.append(np.abs(np.diff(np.unwrap(q[:, 4]))).sum())
        ahead.append(np.c_[np.linalg.norm(q[25:, :2] - q[:-25, :2], axis=1),
                           np.linalg.norm(q[25:, 2:4] - q[:-25, 2:4], axis=1),
                           np.abs(wrap_angle(q[25:, 4] - q[:-25, 4]))])
        for t in range(0, n - 25, 5):
            trivial_pose.append(env.is_success(q[t], q[t + 25]))
            trivial_cov.append(env.coverage(q[t], q[t + 25]) > 0.95)
        for t in np.flatnonzero(step > 0.5):
            rel = q[t, :2] - block_centre(q[t])
            bearings.append(np.arctan2(rel[1], rel[0]) - q[t, 4])  # in the block's frame
    sectors = np.bincount(((np.asarray(bearings) % (2 * np.pi)) // (np.pi / 4)).astype(int), minlength=8)
    rows = np.concatenate([off + np.arange(n - 5) for off, n in zip(offsets, lengths)])
    one_step = qpos[rows + 1, :2] - qpos[rows, :2]
    targets = np.clip(qpos[rows, :2] + ACTION_SCALE * action[rows], TABLE_LOW, TABLE_HIGH)
    block = qpos[rows + 5, :2] - qpos[rows, :2]
    rel_block = np.concatenate([action[rows + k] for k in range(5)], 1)
    abs_block = np.concatenate([np.clip(qpos[rows + k, :2] + ACTION_SCALE * action[rows + k], TABLE_LOW,
                                        TABLE_HIGH) for k in range(5)], 1)
    print(f"{args.data}: {len(lengths)} episodes, {len(qpos)} frames")
    print(f"block moves in {100 * np.mean(moving):.0f} % of steps (episode min {100 * np.min(moving):.0f} %); "
          f"net displacement {np.mean(net):.0f} px, rotation {np.mean(turned):.1f} rad per episode (means)")
    print("pushed from (share of moving steps per 45-degree sector of the block's frame): "
          + " ".join(f"{100 * c / sectors.sum():.0f}%" for c in sectors))
    pusher_far, block_far, turn_far = np.median(np.concatenate(ahead), axis=0)
    print(f"25 steps ahead (medians): pusher {pusher_far:.0f} px, block {block_far:.0f} px, block angle "
          f"{turn_far:.2f} rad")
    print(f"LeWM pairs already a success at the start: {100 * np.mean(trivial_pose):.1f} % (pose), "
          f"{100 * np.mean(trivial_cov):.1f} % (coverage > 0.95)")
    print(f"R^2 of the pusher's one-step displacement from the action alone: relative "
          f"{r_squared(action[rows], one_step):.3f}, absolute target {r_squared(targets, one_step):.3f}")
    print(f"R^2 over one 5-step block from its 5 actions: relative {r_squared(rel_block, block):.3f}, "
          f"absolute targets {r_squared(abs_block, block):.3f}")


if __name__ == "__main__":
    main()
