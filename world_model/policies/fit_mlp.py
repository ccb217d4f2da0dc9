"""The training loop shared by the checkpoint's small MLPs (proposal and subgoal policies).

AdamW under a warm-up + cosine schedule; every ``eval_every`` steps the model is scored on held-out episodes and
the best weights are kept. Hindsight targets are noisy (many plans reach a goal), so the last weights may have
fitted the training episodes' noise; the best held-out ones are the ones to ship.
"""
from __future__ import annotations

import copy
import time
from typing import Callable

import torch

from world_model.training.trainer import warmup_cosine


def fit_keeping_best(model: torch.nn.Module, batch_loss: Callable[[], torch.Tensor],
                     score: Callable[[int], dict], steps: int, lr: float, weight_decay: float,
                     eval_every: int = 250, progress: bool = True, desc: str = "fit") -> dict:
    """Trains ``model`` for ``steps`` steps of ``batch_loss()`` (a fresh training batch's loss each call);
    ``score(batches)`` returns held-out metrics with an ``"explained"`` entry (higher is better).

    Returns:
        ``before`` and ``after`` (the held-out scores untrained and of the kept weights), ``best_step``,
        ``seconds``. The model is left in eval mode with the kept weights.
    """
    from tqdm import tqdm

    model.eval()
    before = score(20)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: warmup_cosine(s, steps, warmup))
    start = time.perf_counter()
    best, best_step, best_state = before, 0, copy.deepcopy(model.state_dict())
    bar = tqdm(range(1, steps + 1), desc=desc, unit="step", disable=not progress)
    for step in bar:
        model.train()
        loss = batch_loss()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % eval_every == 0 or step == steps:
            model.eval()
            current = score(5)
            if current["explained"] > best["explained"]:
                best, best_step, best_state = current, step, copy.deepcopy(model.state_dict())
            bar.set_postfix(loss=f"{float(loss.detach()):.3f}", val=f"{current['explained']:.3f}")
    model.load_state_dict(best_state)
    model.eval()
    return {"before": before, "after": score(20), "best_step": best_step, "seconds": time.perf_counter() - start}
