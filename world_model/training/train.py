"""``lewm-train``: train a LeWM end-to-end from pixels (single process, or data-parallel under torchrun).

    lewm-train --config experiments/configs/reacher.yaml --data data/reacher.h5 --out runs/reacher_cpu
    torchrun --nproc_per_node 2 -m world_model.training.train --config ... --data ... --out ...

The run folder holds ``log.jsonl`` (one JSON record per log/eval interval), ``train_state.pt`` (resumable
state, written atomically), ``model/`` (the released checkpoint: config.yaml + model.safetensors),
``probe.json`` (linear probe on held-out episodes) and ``summary.json``.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import sys
import time
from pathlib import Path

import numpy as np
import torch

from world_model.model.checkpoint import init_weights
from common.cli_help import essentials, help_style
from common.cli_errors import run_cli
from world_model.model.config import ConfigError, LeWMConfig
from common.io_utils import atomic_write_text
from world_model.training.run_data import check_resume_data, keep_normalisation
from world_model.training.run_data import load_data as _data  # noqa: F401 (tests import it from here)
from world_model.training.run_log import RunLog, setup_logging
from common.cli_checks import check_output_folder, checked_module_name
from common.stop_signals import DeferredStop, Stopped
from world_model.training.train_checks import check_args, check_resume_steps, resume_config
from world_model.training.train_pace import TrainPace

log = logging.getLogger("world_model.training.train")


# The configs a user starts from (tests check that each exists); the others in experiments/configs/ are the
# ablations recorded in experiments/<topic>/.
STARTING_CONFIGS = {"cpu.yaml": "LeWM sized for a CPU, any task", "paper.yaml": "the LeWM paper's, for a GPU",
                    "reacher.yaml, pointmass.yaml, tworoom.yaml, cube.yaml, pusht.yaml": "the shipped models",
                    "gym_reacher_v5.yaml": "a gymnasium env of your own: copy it"}
CONFIG_HELP = ("YAML config, e.g. in experiments/configs/: "
               + "; ".join(f"{names} ({what})" for names, what in STARTING_CONFIGS.items())
               + "; the other files there are the ablations recorded in experiments/<topic>/")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(**help_style("lewm-train", __doc__))
    first = essentials(p)
    first.add_argument("--config", required=True, metavar="YAML", help=CONFIG_HELP)
    first.add_argument("--data", nargs="+", default=None, metavar="FILE",
                       help="HDF5 dataset, or several (their episodes are used together; e.g. the shards of "
                            "lewm-collect --plan) (default: data_path in the config)")
    first.add_argument("--out", default=None, metavar="DIR", help="run folder (default: runs/<config name>)")
    first.add_argument("--steps", type=int, default=None, metavar="N", help="total optimisation steps (default: "
                       "config)")
    first.add_argument("--seed", type=int, default=None, metavar="N", help="training seed (default: config)")
    config = p.add_argument_group("config")
    config.add_argument("--set", nargs="*", action="extend", default=[], metavar="KEY=VALUE",
                        help="override config keys (YAML values); may be given more than once")
    config.add_argument("--checkpoint-every", type=int, default=None, metavar="N",
                        help="save the model and the resumable state every N steps (default: the config's "
                             "checkpoint_every)")
    resume = p.add_argument_group("resume or fine-tune")
    resume.add_argument("--resume", action="store_true", help="continue from <out>/train_state.pt")
    resume.add_argument("--init", default=None, metavar="CHECKPOINT",
                        help="start a new run from a checkpoint folder's weights and normalisation (fine-tuning)")
    resume.add_argument("--allow-other-data", action="store_true",
                        help="with --resume: continue on data other than the run's (keeps its action normalisation)")
    output = p.add_argument_group("output")
    output.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    speed = p.add_argument_group("advanced: speed")
    speed.add_argument("--device", default="auto", help="auto, cpu or cuda")
    speed.add_argument("--threads", type=int, default=None, metavar="N",
                       help="CPU threads per process (default: torch's choice)")
    p.add_argument_group("a gymnasium env of your own").add_argument(
        "--import", dest="env_import", default=None, metavar="MODULE",
        help="the module that registers your gymnasium env's id; recorded in the checkpoint as a hint (loading a "
             "checkpoint never imports it: pass --import to lewm-plan/lewm-eval too)")
    return p


def _config(args) -> LeWMConfig:
    cfg = LeWMConfig.from_yaml(args.config).replace(weights_sha256=None)  # a checkpoint's config may carry one
    over = _overrides(args)
    try:
        return LeWMConfig.from_dict({**cfg.to_dict(), **over}) if over else cfg
    except ConfigError as e:
        raise ConfigError(f"--set/--steps/--seed: {e}") from None


def _overrides(args) -> dict:
    """The config keys the command line sets (``--set``, ``--steps``, ``--seed``, ...), as raw YAML values."""
    import yaml

    over = {}
    for kv in args.set:
        if "=" not in kv:
            raise ConfigError(f"--set expects KEY=VALUE, got {kv!r}; write e.g. --set lr=1e-4")
        k, v = kv.split("=", 1)
        try:
            over[k] = yaml.safe_load(v)
        except yaml.YAMLError:
            raise ConfigError(f"--set {kv}: {v!r} is not a YAML value; quote it or fix it") from None
    if args.steps is not None:
        over["steps"] = args.steps
    if args.seed is not None:
        over["seed"] = args.seed
    if getattr(args, "checkpoint_every", None) is not None:
        over["checkpoint_every"] = args.checkpoint_every
    if args.env_import is not None:
        over["env_import"] = checked_module_name(args.env_import)
    return over


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
    from world_model.training import distributed as D
    from world_model.training.diagnostics import evaluate
    from world_model.model.lewm import LeWM
    from world_model.training.train_state import (STATE_NAME, capture_rng, load_train_state, restore_rng,
                                         save_train_state)
    from world_model.rollout.precision import resolve_precision
    from world_model.training.trainer import build_optimizer, build_scheduler, train_step

    args = build_parser().parse_args(argv)
    check_args(args)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    cfg = _config(args)
    out = Path(args.out or Path("runs") / Path(args.config).stem)
    check_output_folder(out, "--out")
    state_path = out / STATE_NAME
    if state_path.exists() and not args.resume:
        raise ValueError(f"{out} already holds a training run; pass --resume to continue it or choose another --out")
    state = None
    if args.resume:
        if not state_path.exists():
            raise FileNotFoundError(f"--resume given but {state_path} does not exist; drop --resume to start a new run")
        state = load_train_state(state_path)
        check_resume_steps(args.steps, state["step"], state_path)
        saved = LeWMConfig.from_dict(state["extra"]["config"])
        cfg, resume_changes = resume_config(saved, {k: getattr(cfg, k) for k in _overrides(args)}, cfg, args.config)
    info = D.setup(args.device)
    try:
        if cfg.batch_size % info.world:
            raise ValueError(f"batch_size {cfg.batch_size} is not divisible by the {info.world} processes")
        setup_logging(info.is_main)
        for change in (resume_changes if state is not None else ()):
            log.info("--resume: %s (applied)", change)
        cfg, train_ds, val_ds = _data(cfg, os.pathsep.join(args.data) if args.data else cfg.data_path)
        data_fp = train_ds.fingerprint()
        if state is not None:
            check_resume_data(saved, state["extra"].get("data"), data_fp, args.allow_other_data)
            cfg = keep_normalisation(cfg, saved, train_ds, val_ds)
        source = LeWM.load(args.init) if args.init else None  # read once: its normalisation, then its weights
        if source is not None:
            cfg = keep_normalisation(cfg, source.cfg, train_ds, val_ds, option="--init")
        precision = resolve_precision(cfg.precision, info.device)
        _seed_all(cfg.seed)  # same initial weights on every rank
        model = LeWM(cfg)
        if source is not None:
            init_weights(model, source, args.init)
            del source
        model = model.to(info.device)
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
                 "steps %d -> %d%s, run folder %s", cfg.encoder, n_params / 1e6, len(train_ds), len(val_ds),
                 info.world, info.device, precision, start, cfg.steps, f" from {args.init}" if args.init else "", out)
        val = _val_batches(val_ds, cfg) if info.is_main else []

        def checkpoint(step: int) -> None:
            rngs = D.all_gather_objects(capture_rng(), info)
            if info.is_main:
                save_train_state(state_path, model, optimizer, scheduler, step, rngs,
                                 {"config": cfg.to_dict(), "world": info.world, "data": data_fp})
                model.save(out / "model")

        def run_eval(step: int) -> None:
            if info.is_main:
                metrics = evaluate(model, val, info.device, precision)
                run.eval(step, metrics, cfg.collapse_rank_threshold, cfg.sigreg_lambda, cfg.collapse_std_threshold)

        if info.is_main and state is None:
            run.write_meta(cfg, precision, info, n_params, init_from=args.init)
            run_eval(0)
        t_start, step = time.perf_counter(), start
        pace = TrainPace(start, cfg.steps, cfg.checkpoint_every)
        bar = run.progress(start, cfg.steps, disable=args.no_progress or not info.is_main)
        # Ctrl-C and SIGTERM take effect between steps (one process: several must stop at the same step)
        stop = DeferredStop(enabled=info.world == 1)
        try:
            if start < cfg.steps:
                with stop:
                    for step, batch in _train_batches(train_ds, cfg, info, start):
                        m = train_step(ddp, batch, optimizer, scheduler, info.device, precision, cfg.grad_clip)
                        done = step + 1
                        run.train(done, m, cfg.batch_size, cfg.log_every)
                        estimate = pace.step_done(done)
                        if estimate and info.is_main:
                            bar.clear()
                            log.info("lewm-train: %s", estimate)
                        bar.update(1)
                        bar.set_postfix(pred=f"{m['pred']:.4f}", sigreg=f"{m['sigreg']:.3f}", lr=f"{m['lr']:.1e}")
                        if done % cfg.eval_every == 0 or done == cfg.steps:
                            run_eval(done)
                        saved_now = done % cfg.checkpoint_every == 0 or done == cfg.steps
                        if saved_now:
                            checkpoint(done)
                        if done >= cfg.steps:
                            break
                        if stop.signum is not None:  # the state of this completed step, nothing of the next
                            if not saved_now:
                                checkpoint(done)
                            raise Stopped(stop.signum)
        except Stopped as stopped:
            bar.close()
            log.warning("%s: saved step %d to %s; continue with --resume",
                        "interrupted" if stopped.signum == signal.SIGINT else f"stopped by {stopped}", done,
                        state_path)
            return 128 + stopped.signum
        except KeyboardInterrupt:  # a second signal, or several processes: the state saved last stays
            if info.is_main and state_path.exists():
                log.warning("interrupted: %s keeps the state saved last; continue with --resume", state_path)
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
    from world_model.training.probe import run_probe

    probe = None
    if len(val_ds.episodes) and "qpos" in train_ds.state_columns:
        probe = run_probe(model, train_ds, val_ds)
        atomic_write_text(out / "probe.json", json.dumps(probe, indent=1))
        run.record({"kind": "probe", "step": cfg.steps, **probe})
    summary = {"steps": cfg.steps, "resumed_from": start, "train_seconds_this_session": round(seconds, 1),
               "last_eval": run.last_eval, "probe": probe, "checkpoint": str(out / "model")}
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=1))
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
