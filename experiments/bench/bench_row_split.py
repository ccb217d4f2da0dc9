"""Planning rollout with its candidates split over CPU worker threads, against torch's intra-op threads (issue 17).

One process; for each predictor, precision and candidate count, rounds alternate between: the rollout on one
torch thread, on the machine's intra-op threads (torch's default), and split over worker threads with one torch
thread each (``common.cpu_threads``, what ``LeWM.rollout`` now does). Prints medians, the ratios and the
largest difference of the split outputs from the unsplit ones. Timings only: tests check the split equals the
unsplit rollout (tests/test_cpu_threads.py).

    python experiments/bench/bench_row_split.py --presets cpu paper --candidates 32 64 128 300 1024
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the agent runs
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import machine  # noqa: E402
from bench_planning import load_model  # noqa: E402
from common.cpu_threads import split_workers  # noqa: E402


def _ms(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return 1e3 * (time.perf_counter() - t0)


def bench(model, n: int, dtype: torch.dtype, th: int, horizon: int, rounds: int) -> dict:
    """Median ms of the three ways for one rollout of ``n`` candidates."""
    g = torch.Generator().manual_seed(0)
    blk, d = model.cfg.action_block_dim, model.cfg.embed_dim
    threads = torch.get_num_threads()
    workers = max(2, split_workers(n, "cpu", dtype))
    z = torch.randn(1, th, d, generator=g)
    with torch.inference_mode():
        c_hist = model.action_encoder(torch.randn(1, th - 1, blk, generator=g)) if th > 1 else None
        c_plan = model.action_encoder(torch.randn(n, horizon, blk, generator=g)).reshape(1, n, horizon, -1)
        fast = model._fast_rollout(dtype)

        def on(k: int, w: int = 1):
            torch.set_num_threads(k)
            return fast.rollout(z, c_hist, c_plan, None, w)

        ref, out = on(threads), on(1, workers)
        diff = float((out.float() - ref.float()).abs().max() / ref.float().abs().max())
        ways = {"one_thread": lambda: on(1), "intra_op": lambda: on(threads), "split": lambda: on(1, workers)}
        times = {k: [] for k in ways}
        for _ in range(rounds):
            for k, fn in ways.items():
                times[k].append(_ms(fn))
        torch.set_num_threads(threads)
    med = {k: statistics.median(v) for k, v in times.items()}
    return dict(candidates=n, dtype=str(dtype)[6:], workers=workers, threads=threads,
                **{f"{k}_ms": round(v, 1) for k, v in med.items()},
                split_vs_intra_op=round(med["intra_op"] / med["split"], 2),
                split_vs_one_thread=round(med["one_thread"] / med["split"], 2), max_rel_diff=diff)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--presets", nargs="+", default=["cpu", "paper"], choices=["cpu", "paper"])
    p.add_argument("--candidates", nargs="+", type=int, default=[32, 64, 128, 300, 1024])
    p.add_argument("--history", type=int, default=1, help="history frames Th (1 as in bench_planning's ratio)")
    p.add_argument("--horizon", type=int, default=5)
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--out", type=Path, help="write the rows as JSON here")
    args = p.parse_args(argv)
    rows = []
    info = machine()
    print(json.dumps(info), flush=True)
    for preset in args.presets:
        model = load_model(preset)
        for dtype in (torch.bfloat16, torch.float32):
            for n in args.candidates:
                row = dict(preset=preset, **bench(model, n, dtype, args.history, args.horizon, args.rounds))
                rows.append(row)
                print(json.dumps(row), flush=True)
    if args.out:
        args.out.write_text(json.dumps(dict(machine=info, rows=rows), indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
