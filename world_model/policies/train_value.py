"""``lewm-train-value``: train a checkpoint's goal value on its dataset, with the world model frozen.

    lewm-train-value --checkpoint world_model/checkpoints/reacher --data reacher.h5

Writes ``value.safetensors`` into the checkpoint folder (or ``--out``), stamped with the model's weights digest;
``Agent.from_pretrained`` loads it and the planners can rank plans by it (cost ``value``; see
``world_model.policies.value``). Progress is saved every ``--save-every`` steps to ``value_train_state.pt`` beside the
output; ``--resume`` continues from it. A few minutes on a 2-core CPU.

Estimators (``--estimator``): ``mc`` regresses the lower expectile of the blocks the data took between two frames
of an episode; ``td`` backs the distance up one block at a time (``d(z, g) <- 1 + d'(z_next, g)``, a slow-moving
target copy ``d'``) with the same lower expectile, so a goal reached along another episode counts too.
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from common.cli_errors import UserInputError, run_cli
from common.cli_help import essentials, help_style
from common.io_utils import atomic_write
from world_model.policies.proposal_data import EncodedEpisodes, encode_datasets, split_episodes
from world_model.training.trainer import warmup_cosine
from world_model.policies.value import ESTIMATORS, GoalValue
from world_model.policies.value_data import ValueSampler

STATE_FILE = "value_train_state.pt"


def expectile_loss(residual: torch.Tensor, tau: float) -> torch.Tensor:
    """Asymmetric squared loss of ``residual = target - prediction`` (B,): weight ``tau`` where the target is
    above the prediction, ``1 - tau`` below; ``tau < 0.5`` fits a lower expectile (the shorter ways)."""
    weight = torch.where(residual > 0, tau, 1.0 - tau)
    return (weight * residual.square()).mean()


def value_loss(value: GoalValue, target_value: GoalValue, batch: dict, estimator: str, tau: float,
               random_weight: float) -> torch.Tensor:
    """The training loss of one batch (``ValueSampler.sample``), in units of ``max_blocks``."""
    scale = value.max_blocks
    pred = value(batch["z"], batch["goal"]) / scale
    same, k = batch["same"], batch["k"]
    if estimator == "mc":
        target = torch.where(same, torch.nan_to_num(k, nan=scale), torch.full_like(k, scale)) / scale
        weight = torch.where(same, torch.ones_like(k), torch.full_like(k, random_weight))
        res = target - pred
        return (weight * torch.where(res > 0, tau, 1.0 - tau) * res.square()).mean()
    with torch.no_grad():
        bootstrap = (1.0 + target_value(batch["z_next"], batch["goal"])).clamp(max=scale)
        at_goal = same & (k == 0)
        target = torch.where(at_goal, torch.zeros_like(bootstrap), bootstrap) / scale
    return expectile_loss(target - pred, tau)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two 1-D arrays (average ranks for ties)."""
    from scipy.stats import spearmanr

    if len(a) < 3:
        return float("nan")
    return float(spearmanr(a, b).statistic)


@torch.inference_mode()
def rank_diagnostics(value: GoalValue, sampler: ValueSampler, starts: int = 200, seed: int = 0) -> dict:
    """How well ``value`` orders goals by the blocks the data took to reach them, on ``sampler``'s episodes:
    ``spearman`` over all (start, goal) pairs pooled, ``spearman_per_start`` averaged over starts (does it order
    the goals ahead of one frame), and ``mae_blocks`` (mean |d - k|; the data's k is an upper bound)."""
    ladder = sampler.ladder(starts, seed)
    value.eval()
    pred = value(ladder["z"], ladder["goal"]).numpy()
    k, start = ladder["k"].numpy(), ladder["start"].numpy()
    per_start = [spearman(pred[start == s], k[start == s]) for s in np.unique(start)]
    per_start = [r for r in per_start if np.isfinite(r)]
    return {"spearman": spearman(pred, k), "spearman_per_start": float(np.mean(per_start)) if per_start else None,
            "mae_blocks": float(np.abs(pred - k).mean()), "pairs": int(len(k))}


def _save_state(path: Path, value, target, optimizer, step: int, best: dict, best_state: dict, sampler,
                settings: dict) -> None:
    state = {"value": value.state_dict(), "target": target.state_dict(), "optimizer": optimizer.state_dict(),
             "step": step, "best": best, "best_state": best_state, "sampler_rng": sampler.rng.bit_generator.state,
             "torch_rng": torch.get_rng_state(), "settings": settings}
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def train_value(data: EncodedEpisodes, embed_dim: int, estimator: str = "td", steps: int = 8000, batch: int = 512,
                lr: float = 1e-3, tau: float = 0.1, max_goal_blocks: int = 40, random_fraction: float = 0.3,
                random_weight: float = 0.1, polyak: float = 0.01, val_fraction: float = 0.1, seed: int = 0,
                hidden: int = 256, depth: int = 3, eval_every: int = 250, state_path: Path | None = None,
                save_every: int = 500, resume: bool = False, progress: bool = True) -> tuple[GoalValue, dict]:
    """Trains a :class:`GoalValue` on ``data``; keeps the weights that order held-out episodes' goals best
    (``rank_diagnostics``' pooled Spearman). With ``state_path``, saves its progress every ``save_every`` steps
    and, with ``resume``, starts from what is saved there (the settings must match).

    Returns:
        The value (eval mode) and metrics: held-out diagnostics before and after, best step, seconds.
    """
    from tqdm import tqdm

    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {', '.join(ESTIMATORS)}, got {estimator!r}")
    settings = dict(estimator=estimator, steps=steps, batch=batch, lr=lr, tau=tau, max_goal_blocks=max_goal_blocks,
                    random_fraction=random_fraction, random_weight=random_weight, polyak=polyak, seed=seed,
                    hidden=hidden, depth=depth)
    torch.manual_seed(seed)
    train_data, val_data, n_val = split_episodes(data, val_fraction, seed)
    train = ValueSampler(train_data, max_goal_blocks, random_fraction, seed=seed)
    val = ValueSampler(val_data, max_goal_blocks, random_fraction, seed=seed + 1)
    value = GoalValue(embed_dim, hidden, depth, max_blocks=float(max_goal_blocks), estimator=estimator)
    target = copy.deepcopy(value)
    optimizer = torch.optim.AdamW(value.parameters(), lr=lr, weight_decay=0.01)
    before = rank_diagnostics(value, val)
    best, best_state, first = before, copy.deepcopy(value.state_dict()), 1
    if resume and state_path is not None and state_path.is_file():
        saved = torch.load(state_path, weights_only=False)
        changed = {k: (saved["settings"].get(k), v) for k, v in settings.items() if saved["settings"].get(k) != v}
        if changed:
            raise UserInputError(f"{state_path} was saved with other settings {changed} (saved, now); rerun with "
                                 f"the saved ones to resume, or delete it to start over")
        value.load_state_dict(saved["value"])
        target.load_state_dict(saved["target"])
        optimizer.load_state_dict(saved["optimizer"])
        train.rng.bit_generator.state = saved["sampler_rng"]
        torch.set_rng_state(saved["torch_rng"])
        best, best_state, first = saved["best"], saved["best_state"], saved["step"] + 1
    warmup = max(1, steps // 20)
    start = time.perf_counter()
    bar = tqdm(range(first, steps + 1), desc=f"value ({estimator})", unit="step", disable=not progress,
               initial=first - 1, total=steps)
    for step in bar:
        for group in optimizer.param_groups:  # set from the step, so a resumed run follows the same schedule
            group["lr"] = lr * warmup_cosine(step - 1, steps, warmup)
        value.train()
        loss = value_loss(value, target, train.sample(batch), estimator, tau, random_weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            for p, q in zip(value.parameters(), target.parameters()):
                q.lerp_(p, polyak)
        if step % eval_every == 0 or step == steps:
            current = rank_diagnostics(value, val)
            if current["spearman"] > best["spearman"]:
                best, best_state = current, copy.deepcopy(value.state_dict())
            bar.set_postfix(loss=f"{float(loss.detach()):.4f}", rank=f"{current['spearman']:.3f}")
        if state_path is not None and (step % save_every == 0 or step == steps):
            _save_state(state_path, value, target, optimizer, step, best, best_state, train, settings)
    value.load_state_dict(best_state)
    value.eval()
    after = rank_diagnostics(value, val)
    return value, {**settings, "seconds": time.perf_counter() - start, "train_starts": len(train),
                   "val_episodes": int(n_val), "val_before": before, "val_after": after,
                   "parameters": sum(p.numel() for p in value.parameters())}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(**help_style("lewm-train-value", __doc__))
    first = essentials(p)
    first.add_argument("--checkpoint", required=True, metavar="DIR",
                       help="checkpoint folder (config.yaml + model.safetensors)")
    first.add_argument("--data", required=True, nargs="+", metavar="H5",
                       help="the model's HDF5 dataset(s) (lewm-collect; several files, e.g. a collection plan's "
                            "shards, are joined)")
    first.add_argument("--out", metavar="DIR", help="folder for value.safetensors (default: the checkpoint folder)")
    training = p.add_argument_group("training")
    training.add_argument("--estimator", choices=ESTIMATORS, default="td",
                          help="td: one-block backups (the better planner on reacher's free goals, 48/50 against "
                               "mc's 41/50: docs/value.md); mc: lower expectile of the data's temporal distance")
    training.add_argument("--steps", type=int, default=8000, metavar="N", help="optimisation steps")
    training.add_argument("--batch", type=int, default=512, metavar="N", help="samples per step")
    training.add_argument("--max-goal-blocks", type=int, default=40, metavar="N",
                          help="the farthest hindsight goal, in action blocks; farther reads as this far")
    training.add_argument("--tau", type=float, default=0.1, metavar="X",
                          help="expectile: below 0.5 favours the shorter ways; 0.1 stitches the data's episodes into "
                               "the shortest way (two rooms: rank 0.84 against the true path through the door, 0.25 "
                               "with 0.3; docs/value.md)")
    training.add_argument("--polyak", type=float, default=0.01, metavar="X",
                          help="td: how far the target copy moves towards the value each step")
    training.add_argument("--seed", type=int, default=0, metavar="N", help="seed of the episode split and the draws")
    progress = p.add_argument_group("saved progress and output")
    progress.add_argument("--save-every", type=int, default=500, metavar="N", help="steps between saved progress")
    progress.add_argument("--resume", action="store_true", help="continue from the saved progress beside the output")
    progress.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return p


def _main(argv) -> int:
    from world_model import LeWM

    args = build_parser().parse_args(argv)
    for name in ("steps", "batch", "max_goal_blocks", "save_every"):
        if getattr(args, name) < 1:
            raise UserInputError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.max_goal_blocks > 1000 or args.steps > 10_000_000:
        raise UserInputError("--max-goal-blocks must be at most 1000 and --steps at most 10000000")
    for name in ("tau", "polyak"):
        if not 0.0 < getattr(args, name) < 1.0:
            raise UserInputError(f"--{name} must be in (0, 1), got {getattr(args, name)}")
    from common.cli_checks import check_checkpoint_folder, check_output_folder, check_seed

    folder = check_checkpoint_folder(args.checkpoint)
    check_seed(args)
    out = check_output_folder(args.out or folder, "--out")  # before minutes of training, not after
    out.mkdir(parents=True, exist_ok=True)
    model = LeWM.load(folder)
    data = encode_datasets(model, args.data, progress=not args.no_progress)
    value, metrics = train_value(data, model.cfg.embed_dim, args.estimator, args.steps, args.batch, tau=args.tau,
                                 max_goal_blocks=args.max_goal_blocks, polyak=args.polyak, seed=args.seed,
                                 state_path=out / STATE_FILE, save_every=args.save_every, resume=args.resume,
                                 progress=not args.no_progress)
    metrics["data"] = [str(path) for path in args.data]
    path = value.save(out, info=metrics, half=True, model_sha256=model.checkpoint_sha256)
    (out / STATE_FILE).unlink(missing_ok=True)
    after, before = metrics["val_after"], metrics["val_before"]
    print(f"wrote {path}: held-out episodes, rank correlation with the blocks to the goal {after['spearman']:.2f} "
          f"(per start {after['spearman_per_start']:.2f}; untrained {before['spearman']:.2f}), "
          f"{metrics['seconds']:.0f} s")
    print(json.dumps(metrics))
    return 0


def main(argv=None) -> int:
    return run_cli("lewm-train-value", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
