"""Does a Push-T model's latent see the block, or only the pusher?

    python experiments/pusht_latent_check.py --checkpoint runs/pusht/model --data data/pusht_heldout.h5

Encodes every 4th held-out frame and prints
- a 5-nearest-neighbour regression of the state from the embeddings (first half -> second half): R^2 for pusher
  x, y, block x, y and the cos/sin of the block angle. A planner's latent cost can only steer what this recovers.
- how the latent distance between two random frames (squared Euclidean / 2D) follows the pusher's and the block's
  displacement and the block's rotation: rank correlations.
"""

from __future__ import annotations

import argparse

import h5py
import numpy as np
import torch

from envs.pusht import wrap_angle
from world_model import LeWM


def ranks(x: np.ndarray) -> np.ndarray:
    return np.argsort(np.argsort(x))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", required=True, help="held-out Push-T trajectories (lewm-collect --env pusht)")
    args = p.parse_args()
    model = LeWM.load(args.checkpoint).eval()
    with h5py.File(args.data, "r") as f:
        rows = np.arange(0, len(f["qpos"]), 4)
        pixels, qpos = torch.from_numpy(f["pixels"][rows]), f["qpos"][rows].astype(np.float64)
    with torch.no_grad():
        z = torch.cat([model.encode(pixels[i:i + 500]) for i in range(0, len(pixels), 500)])
    targets = np.c_[qpos[:, :4], np.cos(qpos[:, 4]), np.sin(qpos[:, 4])]
    half = len(z) // 2
    neighbours = torch.cdist(z[half:], z[:half]).topk(5, largest=False).indices.numpy()
    predicted = targets[:half][neighbours].mean(1)
    truth = targets[half:]
    r2 = 1 - ((truth - predicted) ** 2).sum(0) / ((truth - truth.mean(0)) ** 2).sum(0)
    print("5-NN R^2 (pusher x, y, block x, y, cos, sin of the angle):", " ".join(f"{v:.3f}" for v in r2))
    i, j = np.random.default_rng(0).integers(0, len(z), (2, 3000))
    latent = ((z[i] - z[j]) ** 2).sum(1).numpy() / (2 * z.shape[1])
    moves = {"pusher": np.linalg.norm(qpos[i, :2] - qpos[j, :2], axis=1),
             "block": np.linalg.norm(qpos[i, 2:4] - qpos[j, 2:4], axis=1),
             "block angle": np.abs(wrap_angle(qpos[i, 4] - qpos[j, 4]))}
    print("rank correlation of the latent distance with the displacement of: "
          + ", ".join(f"{k} {np.corrcoef(ranks(v), ranks(latent))[0, 1]:.2f}" for k, v in moves.items()))


if __name__ == "__main__":
    main()
