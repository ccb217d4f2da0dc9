"""One optimisation step and what it needs: AdamW, warm-up + cosine schedule, autocast, grad clipping."""
from __future__ import annotations

import math

import torch

from world_model.model.config import LeWMConfig
from world_model.rollout.precision import autocast_context


MODEL_INPUTS = ("pixels", "action", "qpos")  # what LeWM.loss reads from a batch (qpos: only a state readout)


def build_optimizer(model: torch.nn.Module, cfg: LeWMConfig) -> torch.optim.Optimizer:
    """AdamW over all trainable parameters with ``cfg.lr`` and ``cfg.weight_decay``."""
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def warmup_cosine(step: int, total: int, warmup: int, min_fraction: float = 0.0) -> float:
    """Learning-rate multiplier at ``step``: linear up to 1 over ``warmup`` steps, then cosine to ``min_fraction``."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_fraction + (1.0 - min_fraction) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: LeWMConfig, total_steps: int):
    """Per-step LambdaLR: linear warm-up over ``warmup_fraction`` of the run, then cosine decay."""
    warmup = int(round(cfg.warmup_fraction * total_steps))
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: warmup_cosine(s, total_steps, warmup, cfg.min_lr_fraction))


def train_step(model, batch: dict, optimizer, scheduler, device: torch.device, precision: str,
               grad_clip: float) -> dict:
    """Forward, backward, clip the gradient norm to ``grad_clip``, optimiser and scheduler step.

    Args:
        model: LeWM, possibly wrapped in DistributedDataParallel (its forward must be ``loss``).
        batch: {"pixels": (B, T, H, W, 3) uint8, "action": (B, T, A_block)[, "qpos": (B, T, nq)]} on any device.
        precision: "bf16" (autocast) or "fp32", already resolved (see ``resolve_precision``).

    Returns:
        Python floats: "pred", "sigreg", "total" (and "recon", "rollout", "state", "state_pred" where used),
        "grad_norm" (before clipping), "lr" (used in this step).
    """
    model.train()
    batch = {k: v.to(device, non_blocking=True) for k, v in batch.items() if k in MODEL_INPUTS}
    lr = optimizer.param_groups[0]["lr"]
    with autocast_context(device, precision):
        losses = model(batch)
    optimizer.zero_grad(set_to_none=True)
    losses["total"].backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    scheduler.step()
    out = {k: float(losses[k].detach()) for k in ("pred", "sigreg", "total", "recon", "rollout", "state", "state_pred")
           if k in losses}
    out["grad_norm"] = float(grad_norm)
    out["lr"] = lr
    return out
