"""Measures LeWM training-step time on synthetic data for a few configurations (CPU or GPU).

Usage::

    PYTHONPATH=. python experiments/bench/bench_train_speed.py --configs cpu paper --precision bf16 fp32 \
        [--batch 64] [--steps 6] [--set pred_depth=4 ...] [--json out.json]

Each row: config, precision, batch, image size, parameters, median seconds per step (after 2 warm-up
steps), samples/s (windows of num_steps frames per second). Results are printed as a Markdown table.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch
import yaml

from world_model import LeWM, LeWMConfig
from world_model.training.trainer import build_optimizer, build_scheduler, train_step


def bench(cfg: LeWMConfig, steps: int, device: torch.device) -> dict:
    torch.manual_seed(0)
    model = LeWM(cfg).to(device)
    opt = build_optimizer(model, cfg)
    sched = build_scheduler(opt, cfg, 1000)
    s, t = cfg.image_size, cfg.num_steps
    batch = {"pixels": torch.randint(0, 256, (cfg.batch_size, t, s, s, 3), dtype=torch.uint8),
             "action": torch.randn(cfg.batch_size, t, cfg.action_block_dim)}
    times = []
    for i in range(steps + 2):
        t0 = time.perf_counter()
        train_step(model, batch, opt, sched, device, cfg.precision, cfg.grad_clip)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= 2:
            times.append(time.perf_counter() - t0)
    sec = statistics.median(times)
    return {"params_M": round(model.num_parameters()["total"] / 1e6, 2), "sec_per_step": round(sec, 3),
            "samples_per_s": round(cfg.batch_size / sec, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", nargs="+", default=["cpu"], help="preset names or YAML paths")
    ap.add_argument("--precision", nargs="+", default=["fp32"], help="bf16 and/or fp32")
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--set", nargs="*", default=[], help="overrides key=value (YAML values)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    for name in args.configs:
        cfg = LeWMConfig.from_yaml(name) if name.endswith(".yaml") else LeWMConfig.preset(name)
        over = {k: yaml.safe_load(v) for k, v in (kv.split("=", 1) for kv in args.set)}
        if args.batch:
            over["batch_size"] = args.batch
        for prec in args.precision:
            c = cfg.replace(precision=prec, **over)
            r = {"config": name, "precision": prec, "batch": c.batch_size, "image": c.image_size,
                 "overrides": " ".join(args.set), **bench(c, args.steps, device)}
            rows.append(r)
            print(json.dumps(r), flush=True)
    print(f"\nmachine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}, device {device}")
    print("| config | overrides | precision | batch | image | params (M) | s/step | samples/s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['config']} | {r['overrides']} | {r['precision']} | {r['batch']} | {r['image']} | "
              f"{r['params_M']} | {r['sec_per_step']} | {r['samples_per_s']} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
