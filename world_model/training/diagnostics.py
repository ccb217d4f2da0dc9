"""Collapse diagnostics: embedding spread, effective rank, held-out prediction error and SIGReg."""
from __future__ import annotations

import torch

from world_model.rollout.precision import autocast_context
from world_model.training.trainer import MODEL_INPUTS


def effective_rank(z: torch.Tensor) -> float:
    """exp(entropy) of the normalised singular values of the centred embeddings (Roy & Vetterli, 2007).

    Args:
        z: (N, D) embeddings.

    Returns:
        A number in [1, min(N, D)]: about 1 for collapsed embeddings, D for isotropic ones (with N >> D).
    """
    z = z.float()
    s = torch.linalg.svdvals(z - z.mean(0, keepdim=True))
    if float(s.sum()) <= 0:
        return 1.0
    p = s / s.sum()
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def embedding_stats(z: torch.Tensor) -> dict:
    """Per-dimension std over the batch, z: (N, D) -> {"std_mean", "std_min", "eff_rank"}."""
    std = z.float().std(0)
    return {"std_mean": float(std.mean()), "std_min": float(std.min()), "eff_rank": effective_rank(z)}


@torch.no_grad()
def evaluate(model, batches, device: torch.device, precision: str, seed: int = 0) -> dict:
    """Held-out metrics in eval mode (BatchNorm running statistics, no dropout), as planning sees the model.

    Args:
        model: an unwrapped LeWM.
        batches: iterable of validation batches {"pixels": (B, T, H, W, 3), "action": (B, T, A_block)}.
        device: where to run.
        precision: "bf16" or "fp32" (resolved).
        seed: seeds SIGReg's directions, so evaluation never touches the training RNG.

    Returns:
        {"val_pred": teacher-forced MSE, "val_pred_rel": that MSE over the embeddings' mean per-dimension
        variance (scale-free: collapse shrinks the MSE and the variance together), "val_sigreg": statistic,
        "std_mean", "std_min", "eff_rank"}, the last three over the first frame of every evaluated window.
    """
    was_training = model.training
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    preds, rels, sigs, first = [], [], [], []
    for batch in batches:
        batch = {k: v.to(device) for k, v in batch.items() if k in MODEL_INPUTS}
        with autocast_context(device, precision):
            out = model.loss(batch, generator=gen, sync=False)
        preds.append(float(out["pred"]))
        rels.append(float(out["pred"]) / max(float(out["emb"].float().var(0).mean()), 1e-12))
        sigs.append(float(out["sigreg"]))
        first.append(out["emb"][:, 0].float().cpu())
    model.train(was_training)
    if not preds:
        return {}
    stats = embedding_stats(torch.cat(first))
    return {"val_pred": sum(preds) / len(preds), "val_pred_rel": sum(rels) / len(rels),
            "val_sigreg": sum(sigs) / len(sigs), **stats}
