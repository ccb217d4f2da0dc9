"""``lewm-train-subgoal``: train a checkpoint's subgoal policy on its dataset, with the world model frozen.

    lewm-train-subgoal --checkpoint world_model/checkpoints/cube --data data/cube.h5

Writes ``subgoal.safetensors`` into the checkpoint folder (or ``--out``); an agent then aims each replan at the
embedding it predicts on the way to the goal (see ``world_model.policies.subgoal``). A minute or two on a 2-core CPU.
"""
from __future__ import annotations

import argparse
import json
import sys

import torch

from common.cli_help import essentials, help_style
from common.cli_errors import UserInputError, run_cli
from world_model.policies.fit_mlp import fit_keeping_best
from world_model.policies.proposal_data import EncodedEpisodes, SubgoalSampler, encode_datasets, split_episodes
from world_model.policies.subgoal import SubgoalPolicy


def explained(policy: SubgoalPolicy, sampler: SubgoalSampler, batches: int = 20, batch: int = 512) -> dict:
    """On ``sampler``'s data: 1 - MSE(policy's subgoal) / MSE(staying: the current embedding), over samples
    whose goal lies beyond the subgoal (``explained``) and over all (``explained_all``)."""
    err = torch.zeros(4, dtype=torch.float64)
    with torch.inference_mode():
        for _ in range(batches):
            b = sampler.sample(batch)
            far = ~(b["goal"] == b["subgoal"]).all(-1)
            pred = (policy(b["z"], b["goal"]) - b["subgoal"]).square().mean(-1)
            stay = (b["z"] - b["subgoal"]).square().mean(-1)
            err += torch.stack([pred[far].sum(), stay[far].sum(), pred.sum(), stay.sum()]).double()
    return {"explained": float(1 - err[0] / err[1]), "explained_all": float(1 - err[2] / err[3])}


def train_subgoal(data: EncodedEpisodes, embed_dim: int, subgoal_blocks: int = 4, max_goal_blocks: int = 24,
                  steps: int = 3000, batch: int = 512, lr: float = 1e-3, val_fraction: float = 0.1, seed: int = 0,
                  hidden: int = 512, depth: int = 2, dropout: float = 0.1, weight_decay: float = 0.05,
                  eval_every: int = 250, progress: bool = True) -> tuple[SubgoalPolicy, dict]:
    """Trains a :class:`SubgoalPolicy` (latent MSE to the data's embedding ``subgoal_blocks`` ahead) on ``data``;
    keeps the weights that explain most of the held-out episodes' subgoals.

    Returns:
        The policy (eval mode) and metrics (held-out ``explained`` before and after, step kept, seconds).
    """
    if subgoal_blocks > max_goal_blocks:
        raise ValueError(f"subgoal_blocks ({subgoal_blocks}) must not exceed max_goal_blocks ({max_goal_blocks})")
    torch.manual_seed(seed)
    train_data, val_data, n_val = split_episodes(data, val_fraction, seed)
    train = SubgoalSampler(train_data, subgoal_blocks, max_goal_blocks, seed=seed)
    val = SubgoalSampler(val_data, subgoal_blocks, max_goal_blocks, seed=seed + 1)
    policy = SubgoalPolicy(embed_dim, subgoal_blocks, hidden=hidden, depth=depth, dropout=dropout)

    def batch_loss() -> torch.Tensor:
        b = train.sample(batch)
        return (policy(b["z"], b["goal"]) - b["subgoal"]).square().mean()

    fit = fit_keeping_best(policy, batch_loss, lambda batches: explained(policy, val, batches), steps, lr,
                           weight_decay, eval_every, progress, desc="subgoal")
    return policy, {"steps": steps, "best_step": fit["best_step"], "seconds": fit["seconds"],
                    "train_starts": len(train), "val_episodes": int(n_val), "val_before": fit["before"],
                    "val_after": fit["after"], "subgoal_blocks": subgoal_blocks, "max_goal_blocks": max_goal_blocks,
                    "parameters": sum(p.numel() for p in policy.parameters())}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(**help_style("lewm-train-subgoal", __doc__))
    first = essentials(p)
    first.add_argument("--checkpoint", required=True, metavar="DIR",
                       help="checkpoint folder (config.yaml + model.safetensors)")
    first.add_argument("--data", required=True, nargs="+", metavar="FILE",
                       help="the HDF5 dataset the model was trained on (lewm-collect), or several (e.g. shards)")
    first.add_argument("--out", metavar="DIR", help="folder for subgoal.safetensors (default: the checkpoint folder)")
    subgoal = p.add_argument_group("the subgoal")
    subgoal.add_argument("--subgoal-blocks", type=int, default=4, metavar="N",
                         help="action blocks from here to the predicted subgoal")
    subgoal.add_argument("--max-goal-blocks", type=int, default=24, metavar="N",
                         help="hindsight goals are 1..this many blocks ahead")
    subgoal.add_argument("--reach", type=float, metavar="X", help="latent distance (squared, over 2 x embed dim) "
                         "under which the agent aims at the goal itself instead of a subgoal; default: always the "
                         "subgoal")
    training = p.add_argument_group("training")
    training.add_argument("--steps", type=int, default=3000, metavar="N", help="optimisation steps")
    training.add_argument("--batch", type=int, default=512, metavar="N", help="samples per step")
    training.add_argument("--seed", type=int, default=0, metavar="N",
                          help="seed of the train/validation split of the episodes, the subgoal network's initial "
                               "weights and the training samples")
    p.add_argument_group("output").add_argument("--no-progress", action="store_true", help="hide progress bars")
    return p


def _main(argv) -> int:
    from world_model import LeWM

    args = build_parser().parse_args(argv)
    for name in ("subgoal_blocks", "max_goal_blocks", "steps", "batch"):
        if getattr(args, name) < 1:
            raise UserInputError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.subgoal_blocks > args.max_goal_blocks:
        raise UserInputError(f"--subgoal-blocks ({args.subgoal_blocks}) must not exceed --max-goal-blocks "
                             f"({args.max_goal_blocks})")
    if args.reach is not None and not args.reach > 0:
        raise UserInputError(f"--reach must be positive, got {args.reach}")
    from common.cli_checks import check_checkpoint_folder, check_output_folder, check_seed

    folder = check_checkpoint_folder(args.checkpoint)
    check_seed(args)
    check_output_folder(args.out or folder, "--out")  # before minutes of training, not after
    model = LeWM.load(folder)
    data = encode_datasets(model, args.data, progress=not args.no_progress)
    policy, metrics = train_subgoal(data, model.cfg.embed_dim, args.subgoal_blocks, args.max_goal_blocks,
                                    args.steps, args.batch, seed=args.seed, progress=not args.no_progress)
    metrics["data"] = [str(path) for path in args.data]
    policy.dims["reach"] = args.reach
    path = policy.save(args.out or folder, info=metrics, half=True, model_sha256=model.checkpoint_sha256)
    after, before = metrics["val_after"], metrics["val_before"]
    print(f"wrote {path}: held-out episodes, subgoal error explained {after['explained']:.2f} against staying put "
          f"(untrained {before['explained']:.2f}), {metrics['seconds']:.0f} s")
    print(json.dumps(metrics))
    return 0


def main(argv=None) -> int:
    return run_cli("lewm-train-subgoal", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
