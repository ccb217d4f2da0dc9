"""Does a manipulation model's latent see the object, or only the robot?

    python experiments/model/latent_check.py --task pusht --checkpoint runs/pusht/model --data data/pusht_heldout.h5
    python experiments/model/latent_check.py --task cube --checkpoint runs/cube/model --data data/cube_heldout.h5

Encodes every 4th held-out frame and prints
- a 5-nearest-neighbour regression and a linear (ridge) readout of the state from the embeddings (fit on the first
  half of the frames, scored on the second; with ``--fit-data`` fit on training files' frames, scored on all):
  R^2 per state quantity (``TARGETS``; for the cube also the gripper's
  x, y, z, from the arm's joints by forward kinematics). A planner's latent cost can only steer what this recovers.
- how the latent distance between two random frames (squared Euclidean / 2D) follows the displacement of the robot
  and of the object: rank correlations (``MOVES``).
- for the LeWM protocol's pairs (frame t, frame t + 25), the latent distance when the object stayed (within the
  task's success distance) and when it moved: the cost a planner sees has to tell these apart.
"""

from __future__ import annotations

import argparse

import h5py
import numpy as np
import torch

from envs.pusht import wrap_angle
from world_model import LeWM
from world_model.training.probe import ridge_linear

# Per task: named state quantities, each a function of qpos (N, nq) -> (N,).
TARGETS = {
    "pusht": {"pusher x": lambda q: q[:, 0], "pusher y": lambda q: q[:, 1], "block x": lambda q: q[:, 2],
              "block y": lambda q: q[:, 3], "cos angle": lambda q: np.cos(q[:, 4]),
              "sin angle": lambda q: np.sin(q[:, 4])},
    "cube": {"shoulder pan": lambda q: q[:, 0], "shoulder lift": lambda q: q[:, 1], "elbow": lambda q: q[:, 2],
             "wrist 3": lambda q: q[:, 5], "gripper": lambda q: q[:, 6], "cube x": lambda q: q[:, 14],
             "cube y": lambda q: q[:, 15], "cube z": lambda q: q[:, 16]},
}
# Per task: (robot displacement, object displacement, object distance that counts as "stayed") between qpos rows.
MOVES = {
    "pusht": (lambda a, b: np.linalg.norm(a[:, :2] - b[:, :2], axis=1),
              lambda a, b: np.linalg.norm(a[:, 2:4] - b[:, 2:4], axis=1) + 50 * np.abs(wrap_angle(a[:, 4] - b[:, 4])),
              20.0),
    "cube": (lambda a, b: np.linalg.norm(a[:, :6] - b[:, :6], axis=1),
             lambda a, b: np.linalg.norm(a[:, 14:17] - b[:, 14:17], axis=1), 0.04),
}


def gripper_xyz(qpos: np.ndarray) -> np.ndarray:
    """(N, nq) cube-task qpos -> (N, 3) position of the gripper's pinch point (m), by forward kinematics."""
    from envs.cube import CubeEnv

    env = CubeEnv(image_size=32)
    env.reset(seed=0)
    out = np.empty((len(qpos), 3))
    for row, q in enumerate(qpos):
        env.set_state(q)
        out[row] = env._data.site_xpos[env._pinch_site_id]
    env.close()
    return out


def ranks(x: np.ndarray) -> np.ndarray:
    return np.argsort(np.argsort(x))


def latent_distance(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    return ((a - b) ** 2).sum(1).numpy() / (2 * a.shape[1])


def encode_file(model: LeWM, path: str, stride: int = 4):
    """Every ``stride``-th frame of a dataset: embeddings (N, D), qpos (N, nq) float64, episode index (N,)."""
    with h5py.File(path, "r") as f:
        rows = np.arange(0, len(f["qpos"]), stride)
        pixels, qpos = torch.from_numpy(f["pixels"][rows]), f["qpos"][rows].astype(np.float64)
        episode = np.repeat(np.arange(len(f["ep_len"])), f["ep_len"][:])[rows]
    with torch.no_grad():
        z = torch.cat([model.encode(pixels[i:i + 500]) for i in range(0, len(pixels), 500)]).float()
    return z, qpos, episode


def state_targets(task: str, qpos: np.ndarray) -> tuple[tuple[str, ...], np.ndarray]:
    """The named state quantities of ``TARGETS`` (and the cube's gripper x, y, z): names, values (N, K)."""
    names, targets = zip(*((k, fn(qpos)) for k, fn in TARGETS[task].items()))
    targets = np.stack(targets, 1)
    if task == "cube":
        names, targets = (*names, "gripper x", "gripper y", "gripper z"), np.hstack([targets, gripper_xyz(qpos)])
    return names, targets


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", choices=sorted(TARGETS), required=True)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", required=True, help="held-out trajectories of the task (lewm-collect)")
    p.add_argument("--fit-data", nargs="+", metavar="FILE", help="fit the readouts on these files' frames (every "
                   "4th) and score them on all of --data's (default: fit on the first half of --data, score the rest)")
    args = p.parse_args()
    model = LeWM.load(args.checkpoint).eval()
    z, qpos, episode = encode_file(model, args.data)
    names, targets = state_targets(args.task, qpos)
    if args.fit_data:
        fitted = [encode_file(model, path) for path in args.fit_data]
        z_fit = torch.cat([f[0] for f in fitted])
        _, fit_targets = state_targets(args.task, np.concatenate([f[1] for f in fitted]))
        z_score, truth = z, targets
        print(f"readouts fit on {len(z_fit)} frames of {len(args.fit_data)} file(s), "
              f"scored on {len(z)} held-out frames")
    else:
        half = len(z) // 2
        z_fit, fit_targets, z_score, truth = z[:half], targets[:half], z[half:], targets[half:]
    neighbours = torch.cdist(z_score, z_fit).topk(5, largest=False).indices.numpy()
    weight, bias = ridge_linear(z_fit.double().numpy(), fit_targets)
    for label, predicted in (("5-NN", fit_targets[neighbours].mean(1)),
                             ("linear", z_score.double().numpy() @ weight + bias)):
        r2 = 1 - ((truth - predicted) ** 2).sum(0) / ((truth - truth.mean(0)) ** 2).sum(0)
        print(f"{label} R^2:", ", ".join(f"{n} {v:.3f}" for n, v in zip(names, r2)))
    robot_move, object_move, stayed = MOVES[args.task]
    i, j = np.random.default_rng(0).integers(0, len(z), (2, 3000))
    latent = latent_distance(z[i], z[j])
    print("rank correlation of the latent distance with the displacement of: "
          + ", ".join(f"{k} {np.corrcoef(ranks(v(qpos[i], qpos[j])), ranks(latent))[0, 1]:.2f}"
                      for k, v in (("robot", robot_move), ("object", object_move))))
    ahead = 25 // 4  # frames are every 4th env step: about the LeWM protocol's 25 steps
    t = np.flatnonzero(episode[:-ahead] == episode[ahead:])
    moved = object_move(qpos[t], qpos[t + ahead]) > stayed
    d = latent_distance(z[t], z[t + ahead])
    print(f"pairs {ahead * 4} steps apart: latent distance median {np.median(d[~moved]):.3f} when the object stayed "
          f"({(~moved).sum()}), {np.median(d[moved]):.3f} when it moved ({moved.sum()}); rank correlation with the "
          f"robot's move {np.corrcoef(ranks(robot_move(qpos[t], qpos[t + ahead])), ranks(d))[0, 1]:.2f}, "
          f"with the object's {np.corrcoef(ranks(object_move(qpos[t], qpos[t + ahead])), ranks(d))[0, 1]:.2f}")


if __name__ == "__main__":
    main()
