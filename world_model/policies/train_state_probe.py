"""lewm-train-probe: fit a state probe (``world_model.policies.state_probe``) on a checkpoint's frozen embeddings.

Reads the model's own data (the frames and the ``qpos`` the collector recorded), embeds every frame with the
frozen encoder, and fits an MLP to the state head's targets on whole training episodes, keeping the weights that
read held-out episodes best. Writes ``state_probe.safetensors`` beside the checkpoint; the agent loads it with the
model and its readout costs read the state through it (``--cost value_readout``, ``readout``). Needs a model
trained with a state readout (``state_lambda > 0``). About a minute for 40,000 frames on one CPU core.

    lewm-train-probe --checkpoint world_model/checkpoints/pusht --data $LEWM_DATA/pusht/push_s100.h5
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import torch

from common.cli_errors import UserInputError, run_cli
from common.cli_help import essentials, help_style
from world_model.data.dataset import open_dataset
from world_model.policies.fit_mlp import fit_keeping_best
from world_model.policies.proposal_data import encode_dataset
from world_model.policies.state_probe import StateProbe


def encode_states(model, paths, stride: int = 1, progress: bool = True, predicted: int = 0, horizon: int = 5,
                  seed: int = 0):
    """Every ``stride``-th frame of each file: embeddings (N, D) float32, the state head's targets (N, K) and each
    frame's episode number (N,), counted across the files.

    ``predicted`` > 0 adds that many *predicted* embeddings per file: from random frames with a full history, the
    model's open-loop rollout of the data's own action blocks, 1 to ``horizon`` blocks ahead, each paired with the
    state the data reached there. A probe that has seen the predictor's embeddings reads a plan's rollout as
    it reads a frame, so a planner cannot steer into embeddings the probe reads wrong."""
    zs, targets, episodes, first = [], [], [], 0
    for path in paths:
        data = encode_dataset(model, path, progress=progress)
        with open_dataset(path, ("qpos",)) as f:
            qpos = torch.from_numpy(np.asarray(f["qpos"][:], np.float64))
        with torch.inference_mode():
            frame_targets = model.state_head.targets(qpos)
        rows = np.concatenate([np.arange(o, o + n) for o, n in zip(data.ep_offset, data.ep_len)])[::stride]
        zs.append(data.z[rows])
        targets.append(frame_targets[rows])
        episodes.append(np.searchsorted(data.ep_offset, rows, side="right") - 1 + first)
        if predicted:
            z, t, e = _rolled_out(model, data, frame_targets, predicted, horizon, seed)
            zs.append(z)
            targets.append(t)
            episodes.append(e + first)
        first += len(data.ep_len)
    return torch.cat(zs), torch.cat(targets), np.concatenate(episodes)


def _rolled_out(model, data, frame_targets: torch.Tensor, count: int, horizon: int, seed: int):
    """``count`` predicted embeddings (and targets, episodes) of one file's episodes: see ``encode_states``."""
    fs, hist = data.frameskip, model.cfg.history_size
    starts, owner = [], []
    for e, (o, n) in enumerate(zip(data.ep_offset, data.ep_len)):
        first, last = o + (hist - 1) * fs, o + n - 1 - horizon * fs  # a full history and horizon inside
        if last >= first:
            starts.append(np.arange(first, last + 1))
            owner.append(np.full(last + 1 - first, e))
    if not starts:
        raise UserInputError("the episodes are too short for predicted embeddings: pass --predicted 0")
    starts, owner = np.concatenate(starts), np.concatenate(owner)
    pick = np.random.default_rng(seed).choice(len(starts), size=min(count // horizon + 1, len(starts)),
                                              replace=False)
    t0, owner = torch.from_numpy(starts[pick]), owner[pick]
    back = torch.arange(-(hist - 1), 1) * fs  # history frames, oldest first
    ahead = torch.arange(horizon) * fs
    with torch.inference_mode():
        out = []
        for lo in range(0, len(t0), 512):
            t = t0[lo:lo + 512]
            z_hist = data.z[t[:, None] + back]
            a_hist = data.blocks[t[:, None] + back[:-1]]
            plan = data.blocks[t[:, None] + ahead][:, None]
            out.append(model.rollout(z_hist, a_hist, plan)[:, 0].float())  # (b, H, D)
        z = torch.cat(out)
    reached = t0[:, None] + (ahead + fs)[None]  # the frame each predicted step stands for
    n = min(count, z.shape[0] * horizon)
    return (z.reshape(-1, z.shape[-1])[:n], frame_targets[reached.reshape(-1)][:n],
            np.repeat(owner, horizon)[:n])


def train_probe(z: torch.Tensor, targets: torch.Tensor, episodes: np.ndarray, state_std: torch.Tensor,
                steps: int = 6000, batch: int = 256, hidden: int = 512, depth: int = 2, lr: float = 1e-3,
                val_fraction: float = 0.1, seed: int = 0, progress: bool = True) -> tuple[StateProbe, dict]:
    """Fits a :class:`StateProbe` on whole episodes, ``val_fraction`` of them held out.

    Args:
        z: (N, D) embeddings; targets: (N, K) the state head's targets of the same frames; episodes: (N,) ids.
        state_std: (K,) the targets' scale (the head's ``std``): errors are reported in the state's own units.

    Returns:
        The probe (eval mode) and metrics: per-target RMS error on held-out frames, before (the best constant) and
        after, in the state's units, with the linear head's figures for the same frames when given.
    """
    if len(z) < 2:
        raise UserInputError("a state probe needs at least two frames of data")
    torch.manual_seed(seed)
    ids = np.unique(episodes)
    held = np.random.default_rng(seed).permutation(ids)[:max(1, int(round(val_fraction * len(ids))))]
    val = torch.from_numpy(np.isin(episodes, held)) if len(ids) > 1 else torch.ones(len(z), dtype=torch.bool)
    train = ~val if len(ids) > 1 else val
    z_train, t_train, z_val, t_val = z[train], targets[train], z[val], targets[val]
    probe = StateProbe(z.shape[1], targets.shape[1], hidden, depth)
    probe.fit_input_scale(z_train)
    generator = torch.Generator().manual_seed(seed)
    variance = t_val.var(0).clamp_min(1e-12)

    def batch_loss() -> torch.Tensor:
        i = torch.randint(0, len(z_train), (batch,), generator=generator)
        return (probe(z_train[i]) - t_train[i]).pow(2).mean()

    def score(_batches: int) -> dict:
        with torch.inference_mode():
            mse = (probe(z_val) - t_val).pow(2).mean(0)
        return {"explained": float(1 - (mse / variance).mean()), "rms": (mse.sqrt() * state_std).tolist()}

    fit = fit_keeping_best(probe, batch_loss, score, steps, lr, weight_decay=1e-4, progress=progress,
                           desc="state probe")
    return probe, {**fit, "train_frames": int(train.sum()), "val_frames": int(val.sum()),
                   "val_episodes": int(len(held)), "hidden": hidden, "depth": depth, "steps": steps}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(**help_style("lewm-train-probe", __doc__))
    first = essentials(p)
    first.add_argument("--checkpoint", required=True, metavar="DIR",
                       help="checkpoint folder of a model trained with a state readout (state_lambda > 0)")
    first.add_argument("--data", required=True, nargs="+", metavar="H5",
                       help="the model's HDF5 dataset(s) with recorded qpos (lewm-collect)")
    first.add_argument("--out", metavar="DIR", help="folder for state_probe.safetensors (default: the checkpoint)")
    training = p.add_argument_group("training")
    training.add_argument("--steps", type=int, default=6000, metavar="N", help="optimisation steps")
    training.add_argument("--hidden", type=int, default=512, metavar="N", help="width of the hidden layers")
    training.add_argument("--stride", type=int, default=1, metavar="N", help="use every N-th frame")
    training.add_argument("--predicted", type=int, default=0, metavar="N",
                          help="also fit N predicted embeddings per file (the model's rollout of the data's actions, "
                               "1-5 blocks ahead, with the state reached there); default 0: frames only")
    training.add_argument("--seed", type=int, default=0, metavar="N", help="seed of the episode split and draws")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return p


def _main(argv) -> int:
    from world_model import LeWM

    args = build_parser().parse_args(argv)
    for name in ("steps", "hidden", "stride"):
        if not 1 <= getattr(args, name) <= 10_000_000:
            raise UserInputError(f"--{name} must be in [1, 10000000], got {getattr(args, name)}")
    from common.cli_checks import check_checkpoint_folder, check_output_folder, check_seed

    folder = check_checkpoint_folder(args.checkpoint)
    check_seed(args)
    out = check_output_folder(args.out or folder, "--out")  # before minutes of encoding, not after
    model = LeWM.load(folder).eval()
    head = getattr(model, "state_head", None)
    if head is None:
        raise UserInputError(f"{folder} has no state readout (trained with state_lambda 0): a probe learns the "
                             f"readout's targets, so train the model with state_lambda > 0 first")
    if not 0 <= args.predicted <= 10_000_000:
        raise UserInputError(f"--predicted must be in [0, 10000000], got {args.predicted}")
    z, targets, episodes = encode_states(model, args.data, args.stride, progress=not args.no_progress,
                                         predicted=args.predicted, seed=args.seed)
    probe, metrics = train_probe(z, targets, episodes, head.std, steps=args.steps, hidden=args.hidden,
                                 seed=args.seed, progress=not args.no_progress)
    metrics["data"] = [str(path) for path in args.data]
    metrics["predicted_per_file"] = args.predicted
    out.mkdir(parents=True, exist_ok=True)
    path = probe.save(out, info=metrics, model_sha256=model.checkpoint_sha256)
    rms = ", ".join(f"{v:.3g}" for v in metrics["after"]["rms"])
    print(f"wrote {path}: held-out RMS error per target (state units) {rms}; explained "
          f"{metrics['after']['explained']:.3f} (untrained {metrics['before']['explained']:.3f}), "
          f"{metrics['seconds']:.0f} s")
    print(json.dumps(metrics))
    return 0


def main(argv=None) -> int:
    return run_cli("lewm-train-probe", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
