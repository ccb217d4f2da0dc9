"""A proposal policy trained by advantage-weighted regression on the goal value (HIQL's low-level recipe), for A/B.

The shipped proposal policy is goal-conditioned behaviour cloning with hindsight goals: every data segment counts
alike, the clumsy grasps of the play noise with the clean ones. Here a sample whose goal lies ``k`` blocks ahead in
the data is weighted by ``exp(beta * (V(z, goal) - k))`` (clipped at 100): segments that reached the goal no slower
than the value expects count more. Writes ``proposal.safetensors`` into ``--out`` (a copy of the checkpoint).

    python experiments/cube/awr_proposal.py --out /tmp/ck_awr --beta 1.0 --data $LEWM_DATA/cube/oracle_s1000.h5 ...
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
import torch

from world_model.policies.fit_mlp import fit_keeping_best
from world_model.policies.proposal import ProposalPolicy
from world_model.policies.proposal_data import HindsightSampler, encode_datasets, split_episodes
from world_model.policies.train_proposal import explained


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default="world_model/checkpoints/cube")
    p.add_argument("--data", nargs="+", required=True)
    p.add_argument("--out", required=True, help="folder: a copy of the checkpoint with the new proposal")
    p.add_argument("--beta", type=float, default=1.0)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    from world_model import LeWM
    from world_model.policies.value import GoalValue

    model = LeWM.load(args.checkpoint)
    value = GoalValue.load(args.checkpoint)
    data = encode_datasets(model, args.data)
    torch.manual_seed(args.seed)
    train_data, val_data, _ = split_episodes(data, 0.1, args.seed)
    train = HindsightSampler(train_data, 5, 8, seed=args.seed)
    val = HindsightSampler(val_data, 5, 8, seed=args.seed + 1)
    policy = ProposalPolicy(model.cfg.embed_dim, data.blocks.shape[1], 5, hidden=512, depth=2, dropout=0.5)
    generator = torch.Generator().manual_seed(args.seed)
    weights_seen = []

    def batch_loss():
        b = train.sample(512)
        with torch.no_grad():
            w = torch.exp(args.beta * (value(b["z"], b["goal"]) - b["k"])).clamp(max=100.0)
        weights_seen.append(float(w.mean()))
        keep = b["has_prev"] & (torch.rand(len(b["z"]), generator=generator) >= 0.1)
        z_prev = torch.where(keep[:, None], b["z_prev"], b["z"])
        per_block = (policy(b["z"], z_prev, b["goal"]) - b["plan"]).square().mean(-1) * b["mask"]
        return (w * per_block.sum(1)).sum() / (w * b["mask"].sum(1)).sum().clamp_min(1e-6)

    fit = fit_keeping_best(policy, batch_loss, lambda batches: explained(policy, val, batches=batches), args.steps,
                           1e-3, 0.05, 250, True, desc="awr proposal")
    out = Path(args.out)
    if out.resolve() != Path(args.checkpoint).resolve():
        shutil.copytree(args.checkpoint, out, dirs_exist_ok=True)
    policy.save(out, info={"beta": args.beta, "steps": args.steps, "val_after": fit["after"],
                           "mean_weight": float(np.mean(weights_seen))}, half=True,
                model_sha256=model.checkpoint_sha256)
    print(f"held-out explained {fit['after']}; mean weight {np.mean(weights_seen):.2f}; {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
