"""How far off is a model's open-loop rollout, step by step, on held-out episodes?

    python experiments/model/rollout_error.py --checkpoint pusht --checkpoint runs/pusht_ft/model \
        --data data/pusht_heldout.h5 --horizon 5

For each checkpoint, held-out windows of ``history_size + horizon`` frames are encoded; the first ``history_size``
embeddings and the recorded action blocks are rolled out ``horizon`` blocks open loop, as the planner does, and
compared with the embeddings of the frames that followed. Prints per step:
- the latent error, squared distance / D, relative to the embeddings' variance (1 = as far as a random frame);
- where the model has a state readout (``state_lambda > 0``), the readout of each prediction in state units
  against the recorded state: the median absolute error of every raw (non-angle) qpos entry and of each angle (rad).
Checkpoints are compared on the same windows (a fixed seed).
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from agent.pretrained import resolve_checkpoint
from world_model import LeWM
from world_model.data.dataset import TrajectoryDataset
from world_model.model.frame_encoding import encode_frames


def rollout_errors(model: LeWM, data: str, horizon: int, windows: int, seed: int = 0) -> dict:
    """Per-step latent error (H,) and, with a readout, per-step median state errors {name: (H,)}."""
    cfg = model.cfg
    n_ctx = cfg.history_size
    ds = TrajectoryDataset(data, num_steps=n_ctx + horizon, frameskip=cfg.frameskip,
                           action_stats=(np.asarray(cfg.action_mean), np.asarray(cfg.action_std)))
    pick = np.random.default_rng(seed).choice(len(ds), min(windows, len(ds)), replace=False)
    items = [ds[int(i)] for i in pick]
    pixels = torch.stack([it["pixels"] for it in items])
    actions = torch.stack([it["action"] for it in items])
    z = encode_frames(model, pixels.flatten(0, 1).numpy(), progress=False).unflatten(0, pixels.shape[:2])
    with torch.no_grad():
        pred = model.rollout(z[:, :n_ctx], actions[:, : n_ctx - 1], actions[:, n_ctx - 1: n_ctx - 1 + horizon]
                             .unsqueeze(1))[:, 0]  # (B, H, D)
    target = z[:, n_ctx:]
    variance = z.reshape(-1, z.shape[-1]).var(0).mean()
    out = {"latent": ((pred - target).pow(2).mean(-1).mean(0) / variance).numpy()}
    if model.state_head is not None and "qpos" in items[0]:
        qpos = torch.stack([it["qpos"] for it in items])[:, n_ctx:].numpy()  # (B, H, nq)
        weight, bias = model.state_head.affine()
        std, mean = model.state_head.std, model.state_head.mean
        raw = ((pred @ weight.T + bias) * std + mean).numpy()  # (B, H, K) targets in state units
        angles = [int(i) for i in (cfg.angle_qpos or [])]
        k = 0
        for i in range(qpos.shape[-1]):
            if i in angles:
                est = np.arctan2(raw[..., k + 1], raw[..., k])
                err = np.abs(np.angle(np.exp(1j * (est - qpos[..., i]))))
                out[f"angle qpos{i} (rad)"] = np.median(err, 0)
                k += 2
            else:
                out[f"qpos{i}"] = np.median(np.abs(raw[..., k] - qpos[..., i]), 0)
                k += 1
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", action="append", required=True, help="checkpoint name or folder (repeatable)")
    p.add_argument("--data", required=True, help="held-out HDF5 file")
    p.add_argument("--horizon", type=int, default=5, help="blocks rolled out open loop")
    p.add_argument("--windows", type=int, default=512, help="held-out windows compared")
    args = p.parse_args(argv)
    torch.set_grad_enabled(False)
    for ckpt in args.checkpoint:
        model = LeWM.load(resolve_checkpoint(ckpt))
        errors = rollout_errors(model, args.data, args.horizon, args.windows)
        print(f"{ckpt}: step " + " ".join(f"{h + 1:>7d}" for h in range(args.horizon)))
        for name, row in errors.items():
            print(f"  {name:<18s} " + " ".join(f"{v:7.3f}" for v in row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
