"""``lewm-train-proposal``: train a checkpoint's proposal policy on its dataset, with the world model frozen.

    lewm-train-proposal --checkpoint world_model/checkpoints/reacher --data data/reacher.h5

Writes ``proposal.safetensors`` into the checkpoint folder (or ``--out``); the agent then uses it by itself (see
``world_model.policies.proposal``). A few minutes on a 2-core CPU: encoding the frames, then 8,000 MLP steps. The step
count is set by closed-loop success, not by the held-out score: on the cube, 8,000 steps instead of 2,000 took the
grasps an agent completes from 19/40 to 29/40 while the held-out action variance explained moved 0.53 -> 0.54
(``docs/value.md``).
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import torch

from common.cli_help import essentials, help_style
from common.cli_errors import UserInputError, run_cli
from world_model.policies.proposal import ProposalPolicy
from world_model.policies.proposal_data import EncodedEpisodes, HindsightSampler, encode_datasets, split_episodes
from world_model.policies.fit_mlp import fit_keeping_best


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the supervised blocks: pred/target (B, H, A), mask (B, H)."""
    per_block = (pred - target).square().mean(-1)
    return (per_block * mask).sum() / mask.sum().clamp_min(1)


def _batch_loss(policy: ProposalPolicy, batch: dict, drop_motion: float, generator: torch.Generator):
    """Loss of one batch; the motion input is withheld where no earlier frame exists and, at random, in a
    ``drop_motion`` fraction more, as at an episode's first frame."""
    keep = batch["has_prev"] & (torch.rand(len(batch["z"]), generator=generator) >= drop_motion)
    z_prev = torch.where(keep[:, None], batch["z_prev"], batch["z"])
    return masked_mse(policy(batch["z"], z_prev, batch["goal"]), batch["plan"], batch["mask"])


def explained(policy: ProposalPolicy, sampler: HindsightSampler, batches: int = 20, batch: int = 512) -> dict:
    """On ``sampler``'s data: 1 - MSE(policy) / MSE(zero plan, i.e. the data's mean action), over all supervised
    blocks and over the first block only. 0 = no better than the mean action, 1 = exact."""
    sums = np.zeros(4)
    policy.eval()
    with torch.inference_mode():
        for _ in range(batches):
            b = sampler.sample(batch)
            z_prev = torch.where(b["has_prev"][:, None], b["z_prev"], b["z"])
            pred = policy(b["z"], z_prev, b["goal"])
            zero = torch.zeros_like(pred)
            first = torch.zeros_like(b["mask"])
            first[:, 0] = True
            sums += [float(masked_mse(pred, b["plan"], b["mask"])), float(masked_mse(zero, b["plan"], b["mask"])),
                     float(masked_mse(pred, b["plan"], first)), float(masked_mse(zero, b["plan"], first))]
    return {"explained": 1 - sums[0] / sums[1], "explained_first_block": 1 - sums[2] / sums[3]}


def train_proposal(data: EncodedEpisodes, embed_dim: int, horizon: int, steps: int = 8000, batch: int = 512,
                   lr: float = 1e-3, max_goal_blocks: int = 8, val_fraction: float = 0.1, seed: int = 0,
                   hidden: int = 512, depth: int = 2, dropout: float = 0.5, weight_decay: float = 0.05,
                   eval_every: int = 250,
                   progress: bool = True) -> tuple[ProposalPolicy, dict]:
    """Trains a :class:`ProposalPolicy` on ``data`` (episodes split into train/validation); keeps the weights
    with the best validation score (checked every ``eval_every`` steps).

    Returns:
        The policy (eval mode) and metrics: validation ``explained`` fractions before and after, the step kept,
        steps, seconds.
    """
    torch.manual_seed(seed)
    train_data, val_data, n_val = split_episodes(data, val_fraction, seed)
    train = HindsightSampler(train_data, horizon, max_goal_blocks, seed=seed)
    val = HindsightSampler(val_data, horizon, max_goal_blocks, seed=seed + 1)
    policy = ProposalPolicy(embed_dim, data.blocks.shape[1], horizon, hidden=hidden, depth=depth, dropout=dropout)
    generator = torch.Generator().manual_seed(seed)
    fit = fit_keeping_best(policy, lambda: _batch_loss(policy, train.sample(batch), 0.1, generator),
                           lambda batches: explained(policy, val, batches=batches), steps, lr, weight_decay,
                           eval_every, progress, desc="proposal")
    return policy, {"steps": steps, "best_step": fit["best_step"], "seconds": fit["seconds"],
                    "train_starts": len(train),
                    "val_episodes": int(n_val), "val_before": fit["before"], "val_after": fit["after"],
                    "max_goal_blocks": max_goal_blocks, "parameters": sum(p.numel() for p in policy.parameters())}


MAX_HORIZON = 64  # blocks: the range planning.json allows a planner's horizon (agent.planner_choice.SETTINGS)


def check_horizon(path, horizon: int, frameskip: int) -> None:
    """Refuses a horizon longer than the longest episode of the dataset ``path`` (in action blocks of
    ``frameskip`` steps): no plan of the data is that long."""
    from world_model.data.dataset import REQUIRED_COLUMNS, open_dataset

    with open_dataset(path, REQUIRED_COLUMNS) as f:
        ep_len = f["ep_len"][:]
    longest = int((ep_len.max() - 1) // frameskip) if len(ep_len) else 0
    if horizon > longest:
        raise UserInputError(f"--horizon {horizon}: the longest episode of {path} holds {longest} action blocks, so no "
                             f"plan of the data is that long; use --horizon {max(1, min(longest, 5))}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(**help_style("lewm-train-proposal", __doc__))
    first = essentials(p)
    first.add_argument("--checkpoint", required=True, metavar="DIR",
                       help="checkpoint folder (config.yaml + model.safetensors)")
    first.add_argument("--data", required=True, nargs="+", metavar="FILE",
                       help="the HDF5 dataset the model was trained on (lewm-collect), or several (e.g. shards)")
    first.add_argument("--out", metavar="DIR", help="folder for proposal.safetensors (default: the checkpoint folder)")
    training = p.add_argument_group("training")
    training.add_argument("--horizon", type=int, default=5, metavar="N",
                          help="action blocks per proposed plan (the planner's horizon)")
    training.add_argument("--steps", type=int, default=8000, metavar="N",
                          help="optimisation steps (the shipped reacher, point mass and two-rooms proposals: 2000)")
    training.add_argument("--batch", type=int, default=512, metavar="N", help="samples per step")
    training.add_argument("--max-goal-blocks", type=int, default=8, metavar="N",
                          help="hindsight goals are 1..this many blocks ahead")
    training.add_argument("--dropout", type=float, default=0.5, metavar="P",
                          help="dropout after each hidden layer while training, in [0, 1)")
    training.add_argument("--seed", type=int, default=0, metavar="N",
                          help="seed of the train/validation split of the episodes, the proposal network's initial "
                               "weights and the training samples")
    p.add_argument_group("output").add_argument("--no-progress", action="store_true", help="hide progress bars")
    return p


def _main(argv) -> int:
    from world_model import LeWM

    args = build_parser().parse_args(argv)
    for name in ("horizon", "steps", "batch", "max_goal_blocks"):
        if getattr(args, name) < 1:
            raise UserInputError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if not 0.0 <= args.dropout < 1.0:
        raise UserInputError(f"--dropout must be in [0, 1), got {args.dropout}")
    if args.horizon > MAX_HORIZON:
        raise UserInputError(f"--horizon {args.horizon}: a proposal plans at most {MAX_HORIZON} blocks ahead (the "
                             f"planners' horizon is 5 by default)")
    from common.cli_checks import check_checkpoint_folder, check_output_folder, check_seed

    folder = check_checkpoint_folder(args.checkpoint)
    check_seed(args)
    check_output_folder(args.out or folder, "--out")  # before minutes of training, not after
    model = LeWM.load(folder)
    for path in args.data:  # before minutes of encoding
        check_horizon(path, args.horizon, model.cfg.frameskip)
    data = encode_datasets(model, args.data, progress=not args.no_progress)
    policy, metrics = train_proposal(data, model.cfg.embed_dim, args.horizon, args.steps, args.batch,
                                     max_goal_blocks=args.max_goal_blocks, seed=args.seed, dropout=args.dropout,
                                     progress=not args.no_progress)
    metrics["data"] = [str(path) for path in args.data]
    # float16 on disk, as the checkpoints; the model's weights digest ties the file to the model it was trained for
    path = policy.save(args.out or folder, info=metrics, half=True, model_sha256=model.checkpoint_sha256)
    after, before = metrics["val_after"], metrics["val_before"]
    print(f"wrote {path}: held-out episodes, action variance explained {after['explained']:.2f} "
          f"(first block {after['explained_first_block']:.2f}; untrained {before['explained']:.2f}), "
          f"{metrics['seconds']:.0f} s")
    print(json.dumps(metrics))
    return 0


def main(argv=None) -> int:
    return run_cli("lewm-train-proposal", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
