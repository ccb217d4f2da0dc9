"""Where a waypoint graph measures distances: state estimates read linearly off the embeddings.

A model trained with a state readout (``state_lambda > 0``) carries one; for any other model a ridge map from the
graph's own node embeddings to their recorded states (``qpos``; angles as cos and sin, every target z-scored) is
fitted here, on three quarters of the episodes, and only targets it predicts with held-out R^2 >= ``min_r2`` are
kept (a joint the latent does not hold would only add noise to every distance). The map is saved in the graph's
file, so planning never needs the state.
"""

from __future__ import annotations

import numpy as np
import torch

from world_model.training.probe import probe_targets, ridge_linear, scores


def state_space(model, nodes: torch.Tensor, qpos: np.ndarray, episode: np.ndarray, min_r2: float = 0.5,
                alpha: float = 1.0) -> tuple[np.ndarray, np.ndarray, list, np.ndarray]:
    """An affine map from embeddings to z-scored state estimates.

    Args:
        model: the LeWM whose embeddings ``nodes`` are (its ``state_head``, when it has one, is used as is).
        nodes: (M, D) embeddings of data frames; qpos: (M, nq) their recorded states; episode: (M,) episode ids.
        min_r2: held-out R^2 a target needs to be kept (fitted maps only).
        alpha: ridge penalty on standardised embeddings.

    Returns:
        w (D, K), b (K,), the K target names, their held-out R^2 (K,) (NaN for a model's own readout).

    Raises:
        ValueError: no target reaches ``min_r2``.
    """
    y, names = probe_targets(np.asarray(qpos, np.float64), model.cfg.angle_qpos)
    head = getattr(model, "state_head", None)
    if head is not None:
        weight, bias = head.affine()
        return weight.cpu().numpy().T, bias.cpu().numpy(), names, np.full(len(names), np.nan)
    x = nodes.float().cpu().numpy().astype(np.float64)
    y = (y - y.mean(0)) / np.maximum(y.std(0), 1e-6)
    held = np.isin(episode, np.unique(episode)[::4])
    w, b = ridge_linear(x[~held], y[~held], alpha)
    r2, _ = scores(y[held], x[held] @ w + b)
    keep = np.flatnonzero(r2 >= min_r2)
    if len(keep) == 0:
        raise ValueError(f"no state target is read off the embeddings with held-out R^2 >= {min_r2} (best "
                         f"{r2.max():.2f}): a state-space graph would measure noise; use the latent space")
    w, b = ridge_linear(x, y[:, keep], alpha)
    return w.astype(np.float32), b.astype(np.float32), [names[i] for i in keep], r2[keep]
