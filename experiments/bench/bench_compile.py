"""``torch.compile`` against the eager fast rollout at the default agent's planning size (issue 17).

One process, one thread: the shipped checkpoint's ``FastRollout.rollout`` for N candidates x 5 steps, eager and
compiled (``dynamic=False``) rounds alternated, in bf16 and fp32; prints the compile time, both medians, their
ratio and the largest difference of the outputs relative to their largest value. Timings only: the tests check
that the fast path equals the plain one (tests/test_fast_rollout.py).

    python experiments/bench/bench_compile.py --checkpoint reacher --candidates 64
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch


def _ms(fn) -> float:
    """Wall time of one call, in milliseconds."""
    t0 = time.perf_counter()
    fn()
    return 1e3 * (time.perf_counter() - t0)


def main(argv=None) -> int:
    from agent.pretrained import resolve_checkpoint
    from world_model import LeWM

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", default="reacher", help="checkpoint folder or shipped name")
    p.add_argument("--candidates", type=int, default=64)
    p.add_argument("--rounds", type=int, default=30)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    model = LeWM.load(resolve_checkpoint(args.checkpoint)).eval()
    g = torch.Generator().manual_seed(0)
    n, blk = args.candidates, model.cfg.action_block_dim
    z = torch.randn(1, model.cfg.history_size, model.cfg.embed_dim, generator=g)
    with torch.no_grad():
        c_hist = model.action_encoder(torch.randn(1, model.cfg.history_size - 1, blk, generator=g))
        c_plan = model.action_encoder(torch.randn(n, 5, blk, generator=g)).reshape(1, n, 5, -1)
        for dtype in (torch.bfloat16, torch.float32):
            fast = model._fast_rollout(dtype)
            compiled = torch.compile(fast.rollout, dynamic=False)
            t0 = time.perf_counter()
            out = compiled(z, c_hist, c_plan).float()
            compile_s = time.perf_counter() - t0
            ref = fast.rollout(z, c_hist, c_plan).float()
            diff = float((out - ref).abs().max() / ref.abs().max())
            eager_ms, compiled_ms = [], []
            for _ in range(args.rounds):  # alternate, so that load from other jobs hits both alike
                eager_ms.append(_ms(lambda: fast.rollout(z, c_hist, c_plan)))
                compiled_ms.append(_ms(lambda: compiled(z, c_hist, c_plan)))
            e, c = statistics.median(eager_ms), statistics.median(compiled_ms)
            print(f"{str(dtype)[6:]} {n} candidates: compile {compile_s:.0f} s, eager {e:.1f} ms, compiled {c:.1f} ms "
                  f"({e / c:.2f}x), largest relative difference {diff:.2g}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
