"""Collection throughput: frames per second with 1 and 2 worker processes, at a chosen image size.

    python experiments/bench/bench_collect.py --episodes 16 --steps 50 --image-size 64

Writes experiments/bench/collection.md (and .json) with the machine and the command.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

from agent.collect import CollectConfig, collect  # noqa: E402
from bench_common import cpu_label  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", default="reacher")
    p.add_argument("--episodes", type=int, default=16)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--image-size", type=int, nargs="+", default=[64])
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--out", default="experiments/bench/collection")
    args = p.parse_args()
    rows = []
    for size in args.image_size:
        for workers in args.workers:
            cfg = CollectConfig(env=args.env, episodes=args.episodes, steps=args.steps, image_size=size, seed=123)
            with tempfile.TemporaryDirectory() as tmp:
                start = time.perf_counter()
                summary = collect(cfg, Path(tmp) / "bench.h5", workers=workers, progress=False)
                total = time.perf_counter() - start
            frames = summary["frames"]
            rows.append({"image_size": size, "workers": workers, "frames": frames,
                         "collect_seconds": summary["seconds"], "total_seconds": total,
                         "frames_per_second": frames / summary["seconds"]})
            print(rows[-1], flush=True)
    command = "python experiments/bench/bench_collect.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    machine = f"{cpu_label()}, {os.cpu_count()} cores, Python {platform.python_version()}, " \
              f"MUJOCO_GL={os.environ.get('MUJOCO_GL')}"
    lines = [f"# Collection throughput ({args.env})", "", f"Command: `{command}`  ", f"Machine: {machine}  ",
             f"Date: {time.strftime('%Y-%m-%d')}", "",
             f"{args.episodes} episodes x {args.steps} env steps (action repeat 2), held-random policy; "
             "collection time excludes the final merge into HDF5.", "",
             "| image size | workers | frames | seconds | frames/s | speed-up vs 1 worker |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        base = next(b for b in rows if b["image_size"] == r["image_size"] and b["workers"] == min(args.workers))
        lines.append(f"| {r['image_size']} | {r['workers']} | {r['frames']} | {r['collect_seconds']:.1f} "
                     f"| {r['frames_per_second']:.0f} | {r['frames_per_second'] / base['frames_per_second']:.2f}x |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out + ".md").write_text("\n".join(lines) + "\n")
    Path(args.out + ".json").write_text(json.dumps({"command": command, "machine": machine, "rows": rows}, indent=2))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
