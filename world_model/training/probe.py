"""Linear probe: closed-form ridge regression from frame embeddings to the physical state.

Targets are (cos, sin) of every angle in ``qpos`` (``cfg.angle_qpos``; all of qpos when unset) and the raw
value of any other qpos entry (an empty ``angle_qpos``, as for the point-mass and two-room positions, is a plain
regression on qpos). The probe is fitted on frames of training episodes and scored (R^2 and
Pearson r per target) on held-out episodes, recreated from the checkpoint's ``val_fraction``/``split_seed``.

    python -m world_model.training.probe --checkpoint runs/reacher_cpu/model --data data/reacher.h5 [--out probe.json]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from common.io_utils import atomic_write_text
from world_model.model.state_head import probe_targets  # noqa: F401 (re-exported for the probe's users)


def ridge_linear(x: np.ndarray, y: np.ndarray, alpha: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form ridge with intercept on standardised features, as one affine map: ``y_hat = x @ w + b``.

    Args:
        x: (N, D) features. y: (N, K) targets. alpha: L2 penalty on the standardised weights.

    Returns:
        w (D, K), b (K,).
    """
    mu, sd = x.mean(0), x.std(0) + 1e-8
    xs = (x - mu) / sd
    y_mu = y.mean(0)
    w = np.linalg.solve(xs.T @ xs + alpha * np.eye(x.shape[1]), xs.T @ (y - y_mu)) / sd[:, None]
    return w, y_mu - mu @ w


def ridge_fit(x: np.ndarray, y: np.ndarray, alpha: float = 1.0):
    """``ridge_linear`` as a function: returns ``predict(x) -> y_hat``."""
    w, b = ridge_linear(x, y, alpha)
    return lambda x_new: x_new @ w + b


def scores(y: np.ndarray, y_hat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column R^2 and Pearson r between targets and predictions, each (K,)."""
    ss_res = ((y - y_hat) ** 2).sum(0)
    ss_tot = ((y - y.mean(0)) ** 2).sum(0) + 1e-12
    yc, pc = y - y.mean(0), y_hat - y_hat.mean(0)
    r = (yc * pc).sum(0) / (np.sqrt((yc ** 2).sum(0) * (pc ** 2).sum(0)) + 1e-12)
    return 1 - ss_res / ss_tot, r


@torch.no_grad()
def embed_frames(model, pixels: np.ndarray, batch: int = 256) -> np.ndarray:
    """Embeds single frames (N, H, W, 3) uint8 in eval mode -> (N, D) float64."""
    model.eval()
    out = [model.encode(torch.from_numpy(pixels[i: i + batch])).float().cpu() for i in range(0, len(pixels), batch)]
    return torch.cat(out).numpy().astype(np.float64)


def _frames(ds, episodes, max_frames: int, rng: np.random.Generator):
    """Pixels and qpos of (a random subset of at most ``max_frames``) frames of some episodes."""
    pix, qpos = [], []
    for e in episodes:
        ep = ds.episode(int(e))
        pix.append(ep["pixels"])
        qpos.append(ep["qpos"])
    pix, qpos = np.concatenate(pix), np.concatenate(qpos)
    if len(pix) > max_frames:
        keep = np.sort(rng.choice(len(pix), max_frames, replace=False))
        pix, qpos = pix[keep], qpos[keep]
    return pix, qpos


def run_probe(model, train_ds, val_ds, max_frames: int = 4000, alpha: float = 1.0, seed: int = 0) -> dict:
    """Fits the probe on frames of ``train_ds``'s episodes and scores it on ``val_ds``'s episodes.

    Returns:
        {"targets": names, "r2": per target, "pearson_r": per target, "r2_mean", "pearson_r_mean",
        "n_train", "n_val"}.
    """
    if "qpos" not in train_ds.state_columns:
        raise ValueError("the dataset has no qpos column to probe")
    rng = np.random.default_rng(seed)
    px_tr, q_tr = _frames(train_ds, train_ds.episodes, max_frames, rng)
    px_va, q_va = _frames(val_ds, val_ds.episodes, max_frames, rng)
    angles = model.cfg.angle_qpos
    if angles is None:  # a checkpoint that does not say: the dataset's declaration, else all angles
        from world_model.data.dataset import dataset_angle_qpos

        angles = dataset_angle_qpos(getattr(train_ds, "attrs", {}))
    y_tr, names = probe_targets(q_tr, angles)
    y_va, _ = probe_targets(q_va, angles)
    predict = ridge_fit(embed_frames(model, px_tr), y_tr, alpha)
    r2, r = scores(y_va, predict(embed_frames(model, px_va)))
    return {"targets": names, "r2": [round(float(v), 5) for v in r2], "pearson_r": [round(float(v), 5) for v in r],
            "r2_mean": float(r2.mean()), "pearson_r_mean": float(r.mean()), "n_train": len(px_tr),
            "n_val": len(px_va)}


def _main(argv) -> int:
    from world_model.data.dataset import TrajectoryDataset
    from world_model.model.lewm import LeWM

    ap = argparse.ArgumentParser(prog="python -m world_model.training.probe", description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", required=True, help="checkpoint folder (config.yaml + model.safetensors)")
    ap.add_argument("--data", required=True, help="HDF5 dataset the model was trained on")
    ap.add_argument("--out", default=None, help="JSON output (default: <checkpoint>/probe.json)")
    ap.add_argument("--max-frames", type=int, default=4000, help="frames used for fitting and for scoring")
    args = ap.parse_args(argv)
    model = LeWM.load(args.checkpoint)
    ds = TrajectoryDataset(args.data, num_steps=1, frameskip=1)
    train_ds, val_ds = ds.split(val_fraction=model.cfg.val_fraction, seed=model.cfg.split_seed)
    result = run_probe(model, train_ds, val_ds, max_frames=args.max_frames)
    out = Path(args.out) if args.out else Path(args.checkpoint) / "probe.json"
    atomic_write_text(out, json.dumps(result, indent=1))
    print(f"linear probe on {result['n_val']} held-out frames: R^2 mean {result['r2_mean']:.4f}, "
          f"Pearson r mean {result['pearson_r_mean']:.4f} ({', '.join(result['targets'])}); wrote {out}")
    return 0


def main(argv=None) -> int:
    """CLI entry: user errors end in one line on stderr and exit status 2."""
    from common.cli_errors import run_cli

    return run_cli("world_model.training.probe", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
