"""Train proposal-policy variants of one checkpoint on the same encoded data, each into a copy of the checkpoint.

The shipped recipe is ``lewm-train-proposal`` (2,000 steps by default); this script varies what the command does not
expose (dropout, width, depth) beside the step count and the goal range, so that each variant can be handed to an
evaluation as its own checkpoint folder. The data are encoded once and cached (``--cache``).

    python experiments/model/proposal_variants.py --checkpoint world_model/checkpoints/cube \\
        --data $LEWM_DATA/cube/oracle_s1000.h5 $LEWM_DATA/cube/oracle_s1001.h5 $LEWM_DATA/cube/oracle_wide_s2000.h5 \\
        --variants steps8k drop01 goal4 --out-root /tmp

writes ``/tmp/ck_<variant>/`` (the checkpoint with that variant's ``proposal.safetensors``) and prints each
variant's held-out action variance explained. Then, e.g., ``experiments/cube/cube_oracle_subgoals.py --checkpoint
/tmp/ck_steps8k --episodes 40 --lead 1``.
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import torch

VARIANTS = {  # keyword arguments of world_model.policies.train_proposal.train_proposal
    "steps2k": dict(steps=2000),  # lewm-train-proposal's default
    "steps8k": dict(steps=8000),
    "drop01": dict(steps=8000, dropout=0.1),
    "wide": dict(steps=8000, hidden=1024, depth=3, dropout=0.2),
    "goal4": dict(steps=8000, max_goal_blocks=4),
    "steps20k": dict(steps=20000, dropout=0.1),
}


def main(argv=None) -> int:
    from world_model import LeWM
    from world_model.policies.proposal_data import EncodedEpisodes, encode_datasets
    from world_model.policies.train_proposal import train_proposal

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", nargs="+", required=True)
    p.add_argument("--variants", nargs="+", required=True, choices=sorted(VARIANTS))
    p.add_argument("--out-root", default="/tmp", help="each variant goes to OUT_ROOT/ck_<variant>")
    p.add_argument("--cache", help="file for the encoded data (reused when it exists)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    folder = Path(args.checkpoint)
    model = LeWM.load(folder)
    cache = Path(args.cache) if args.cache else None
    if cache is not None and cache.exists():
        data = EncodedEpisodes(**torch.load(cache, weights_only=False))  # our own file
    else:
        data = encode_datasets(model, args.data, progress=True)
        if cache is not None:
            torch.save(vars(data), cache)
    for name in args.variants:
        policy, metrics = train_proposal(data, model.cfg.embed_dim, 5, progress=True, **VARIANTS[name])
        out = Path(args.out_root) / f"ck_{name}"
        if not out.exists():
            shutil.copytree(folder, out)
        metrics["data"], metrics["variant"] = [str(d) for d in args.data], VARIANTS[name]
        policy.save(out, info=metrics, half=True, model_sha256=model.checkpoint_sha256)
        print(name, json.dumps({k: metrics[k] for k in ("best_step", "seconds", "val_after")}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
