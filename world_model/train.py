"""``lewm-train``: train a LeWM end-to-end from pixels (single process, or data-parallel under torchrun).

    lewm-train --config experiments/configs/reacher.yaml --data data/reacher.h5 --out runs/reacher_cpu
    torchrun --nproc_per_node 2 -m world_model.train --config ... --data ... --out ...

The run folder holds ``log.jsonl`` (one JSON record per log/eval interval), ``train_state.pt`` (resumable
state, written atomically), ``model/`` (the released checkpoint: config.yaml + model.safetensors),
``probe.json`` (linear probe on held-out episodes) and ``summary.json``.
"""
from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

from world_model.cli_errors import run_cli
from world_model.config import LeWMConfig
from world_model.run_log import RunLog, setup_logging

log = logging.getLogger("world_model.train")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lewm-train", description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--config", required=True, help="YAML config (see experiments/configs/)")
    p.add_argument("--data", default=None, help="HDF5 dataset (default: data_path in the config)")
    p.add_argument("--out", default=None, help="run folder (default: runs/<config name>)")
    p.add_argument("--steps", type=int, default=None, help="total optimisation steps (default: config)")
    p.add_argument("--resume", action="store_true", help="continue from <out>/train_state.pt")
    p.add_argument("--seed", type=int, default=None, help="training seed (default: config)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override config keys (YAML values)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads per process (default: torch's choice)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p


def _config(args) -> LeWMConfig:
    import yaml

    cfg = LeWMConfig.from_yaml(args.config)
    over = {}
    for kv in args.set:
        if "=" not in kv:
            raise ValueError(f"--set expects KEY=VALUE, got {kv!r}")
        k, v = kv.split("=", 1)
        over[k] = yaml.safe_load(v)
    if args.steps is not None:
        over["steps"] = args.steps
    if args.seed is not None:
        over["seed"] = args.seed
    return LeWMConfig.from_dict({**cfg.to_dict(), **over}) if over else cfg


def _data(cfg: LeWMConfig, data_path: str):
    """Loads the dataset, splits it by episode and writes the data facts into the config."""
    from world_model.dataset import TrajectoryDataset

    if not data_path:
        raise ValueError("no dataset given: pass --data FILE or set data_path in the config")
    ds = TrajectoryDataset(data_path, num_steps=cfg.num_steps, frameskip=cfg.frameskip)
    if ds.image_size != cfg.image_size:
        raise ValueError(f"the config expects {cfg.image_size} px images but {data_path} has {ds.image_size} px; "
                         f"set image_size: {ds.image_size} or use data of the right size")
    train_ds, val_ds = ds.split(val_fraction=cfg.val_fraction, seed=cfg.split_seed)
    if len(train_ds) < cfg.batch_size:
        raise ValueError(f"{data_path} has {len(train_ds)} training windows, fewer than batch_size {cfg.batch_size}")
    data_task = str(ds.attrs.get("env", ""))
    if cfg.task and data_task and _task_key(cfg.task) != _task_key(data_task):
        raise ValueError(f"the config is for task {cfg.task!r} but {data_path} was collected on {data_task!r}")
    cfg = cfg.replace(data_path=str(data_path), action_dim=ds.action_dim,
                      action_mean=[float(v) for v in train_ds.action_mean],
                      action_std=[float(v) for v in train_ds.action_std],
                      task=cfg.task or _task_key(data_task), angle_qpos=_angle_qpos(cfg, ds.attrs, data_path))
    return cfg, train_ds, val_ds


def _task_key(name: str) -> str:
    """A task's short name from either spelling: ``reacher`` or the gymnasium id ``lewm/Reacher-v0``."""
    import re

    return re.sub(r"-v\d+$", "", name.rsplit("/", 1)[-1]).lower()


def _angle_qpos(cfg: LeWMConfig, attrs: dict, data_path) -> list | None:
    """Which qpos entries are angles: the dataset's declaration (written by lewm-collect from the env), else the
    config's; a config that contradicts the dataset is an error. None (neither says) means all of them."""
    from world_model.dataset import dataset_angle_qpos

    declared = dataset_angle_qpos(attrs)
    if declared is None:
        if cfg.angle_qpos is None:
            log.warning("%s does not say which qpos entries are angles (no angle_qpos attribute) and neither does "
                        "the config: the linear probe treats all of them as angles", data_path)
        return cfg.angle_qpos
    if cfg.angle_qpos is not None and sorted(cfg.angle_qpos) != sorted(declared):
        raise ValueError(f"the config sets angle_qpos {cfg.angle_qpos} but {data_path} declares {declared}; "
                         f"remove angle_qpos from the config or use data of the right task")
    return declared


def _train_batches(ds, cfg: LeWMConfig, info, start_step: int):
    """Yields (step, batch) from ``start_step`` on; epochs reshuffle with DistributedSampler(seed, epoch).

    Skipping into the middle of an epoch on resume costs no data loading, and the DataLoader has its own
    generator so creating it never consumes the global RNG (which dropout and SIGReg use).
    """
    from torch.utils.data import DataLoader, DistributedSampler

    per_rank = cfg.batch_size // info.world
    sampler = DistributedSampler(ds, num_replicas=info.world, rank=info.rank, shuffle=True, seed=cfg.seed,
                                 drop_last=True)
    per_epoch = len(sampler) // per_rank
    step = start_step
    while True:
        epoch, skip = divmod(step, per_epoch)
        sampler.set_epoch(epoch)
        idx = list(sampler)
        chunks = [idx[i * per_rank: (i + 1) * per_rank] for i in range(skip, per_epoch)]
        loader = DataLoader(ds, batch_sampler=chunks, num_workers=cfg.num_workers,
                            generator=torch.Generator().manual_seed(cfg.seed + epoch))
        for batch in loader:
            yield step, batch
            step += 1


def _val_batches(ds, cfg: LeWMConfig) -> list:
    """A fixed set of validation batches (the same windows at every evaluation)."""
    from torch.utils.data import default_collate

    if len(ds) == 0:
        return []
    rng = np.random.default_rng(0)
    n = min(len(ds), cfg.eval_batches * cfg.batch_size)
    idx = rng.choice(len(ds), n, replace=False)
    return [default_collate([ds[int(i)] for i in idx[j: j + cfg.batch_size]]) for j in range(0, n, cfg.batch_size)]


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _main(argv) -> int:
    from world_model import distributed as D
    from world_model.diagnostics import evaluate
    from world_model.lewm import LeWM
    from world_model.train_state import (STATE_NAME, capture_rng, load_train_state, restore_rng,
                                         save_train_state)
    from world_model.trainer import build_optimizer, build_scheduler, resolve_precision, train_step

    args = build_parser().parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be at least 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    cfg = _config(args)
    out = Path(args.out or Path("runs") / Path(args.config).stem)
    state_path = out / STATE_NAME
    if state_path.exists() and not args.resume:
        raise ValueError(f"{out} already holds a training run; pass --resume to continue it or choose another --out")
    state = None
    if args.resume:
        if not state_path.exists():
            raise FileNotFoundError(f"--resume given but {state_path} does not exist")
        state = load_train_state(state_path)
        saved = LeWMConfig.from_dict(state["extra"]["config"])
        cfg = saved.replace(steps=args.steps or saved.steps)
    info = D.setup(args.device)
    try:
        if cfg.batch_size % info.world:
            raise ValueError(f"batch_size {cfg.batch_size} is not divisible by the {info.world} processes")
        setup_logging(info.is_main)
        cfg, train_ds, val_ds = _data(cfg, args.data or cfg.data_path)
        precision = resolve_precision(cfg.precision, info.device)
        _seed_all(cfg.seed)  # same initial weights on every rank
        model = LeWM(cfg).to(info.device)
        optimizer = build_optimizer(model, cfg)
        scheduler = build_scheduler(optimizer, cfg, cfg.steps)
        start = 0
        if state is not None:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            start = state["step"]
            if len(state["rng"]) == info.world:
                restore_rng(state["rng"][info.rank])
            else:
                log.warning("resuming on %d processes, saved with %d: RNG streams restart", info.world,
                            len(state["rng"]))
                _seed_all(cfg.seed + 1000 * start + info.rank)
        else:
            _seed_all(cfg.seed + info.rank)  # different dropout per rank
        ddp = model
        if info.world > 1:
            ddp = torch.nn.parallel.DistributedDataParallel(
                model, device_ids=[info.device.index] if info.device.type == "cuda" else None)
        run = RunLog(out, enabled=info.is_main, resume_step=start if state is not None else None)
        n_params = model.num_parameters()["total"]
        log.info("lewm-train: %s, %.2f M parameters, %d train / %d val windows, %d process(es) on %s, %s, "
                 "steps %d -> %d, run folder %s", cfg.encoder, n_params / 1e6, len(train_ds), len(val_ds),
                 info.world, info.device, precision, start, cfg.steps, out)
        val = _val_batches(val_ds, cfg) if info.is_main else []

        def checkpoint(step: int) -> None:
            rngs = D.all_gather_objects(capture_rng(), info)
            if info.is_main:
                save_train_state(state_path, model, optimizer, scheduler, step, rngs,
                                 {"config": cfg.to_dict(), "world": info.world})
                model.save(out / "model")

        def run_eval(step: int) -> None:
            if info.is_main:
                metrics = evaluate(model, val, info.device, precision)
                run.eval(step, metrics, cfg.collapse_rank_threshold, cfg.sigreg_lambda, cfg.collapse_std_threshold)

        if info.is_main and state is None:
            run.write_meta(cfg, precision, info, n_params)
            run_eval(0)
        t_start, step = time.perf_counter(), start
        bar = run.progress(start, cfg.steps, disable=args.no_progress or not info.is_main)
        try:
            if start < cfg.steps:
                for step, batch in _train_batches(train_ds, cfg, info, start):
                    m = train_step(ddp, batch, optimizer, scheduler, info.device, precision, cfg.grad_clip)
                    done = step + 1
                    run.train(done, m, cfg.batch_size, cfg.log_every)
                    bar.update(1)
                    bar.set_postfix(pred=f"{m['pred']:.4f}", sigreg=f"{m['sigreg']:.3f}", lr=f"{m['lr']:.1e}")
                    if done % cfg.eval_every == 0 or done == cfg.steps:
                        run_eval(done)
                    if done % cfg.checkpoint_every == 0 or done == cfg.steps:
                        checkpoint(done)
                    if done >= cfg.steps:
                        break
        except KeyboardInterrupt:
            if info.world == 1 and step > start:
                checkpoint(step)  # the state after the last finished step
                log.warning("interrupted: saved step %d to %s; continue with --resume", step, state_path)
            raise
        finally:
            bar.close()
        if info.is_main:
            _finish(model, cfg, train_ds, val_ds, run, out, time.perf_counter() - t_start, start)
        return 0
    finally:
        D.teardown()


def _finish(model, cfg, train_ds, val_ds, run, out: Path, seconds: float, start: int) -> None:
    """Linear probe on held-out episodes, summary.json, and the closing log line."""
    from world_model.probe import run_probe

    probe = None
    if len(val_ds.episodes) and "qpos" in train_ds.state_columns:
        probe = run_probe(model, train_ds, val_ds)
        (out / "probe.json").write_text(json.dumps(probe, indent=1))
        run.record({"kind": "probe", "step": cfg.steps, **probe})
    summary = {"steps": cfg.steps, "resumed_from": start, "train_seconds_this_session": round(seconds, 1),
               "last_eval": run.last_eval, "probe": probe, "checkpoint": str(out / "model")}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    r = f", probe Pearson r {probe['pearson_r_mean']:.4f}, R^2 {probe['r2_mean']:.4f}" if probe else ""
    log.info("done: %d steps in %.0f s%s; checkpoint %s", cfg.steps - start, seconds, r, out / "model")


def main(argv=None) -> int:
    """Console entry point ``lewm-train``; returns the exit status."""
    try:
        return run_cli("lewm-train", _main, argv)
    except KeyboardInterrupt:
        print("lewm-train: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
