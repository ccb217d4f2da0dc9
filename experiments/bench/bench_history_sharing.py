"""Before/after: the fast rollout with the history prefix shared across candidates, against an earlier version.

    python experiments/bench/bench_history_sharing.py --baseline 9f24d1f

The agent plans from Th = 3 history frames (a full window), so the first two rollout steps start with history
tokens that every candidate shares. This times one 300-candidate rollout of the shipped reacher model (horizon 5)
through the current ``FastRollout`` and through the one at git commit ``--baseline`` (loaded from git, same
weights), interleaved, and checks both give the same predictions. Prints a Markdown line for the results file.
"""
from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "experiments" / "bench"))
from bench_common import interleaved, machine  # noqa: E402
from world_model import LeWM  # noqa: E402


def baseline_class(commit: str):
    source = subprocess.run(["git", "show", f"{commit}:world_model/rollout/fast_rollout.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "fast_rollout_baseline.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("fast_rollout_baseline", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.FastRollout


@torch.inference_mode()
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--baseline", required=True, help="git commit of the FastRollout to compare with")
    p.add_argument("--samples", type=int, default=300)
    p.add_argument("--history", type=int, default=3, help="history frames Th")
    p.add_argument("--repeats", type=int, default=10)
    args = p.parse_args()
    model = LeWM.load(ROOT / "world_model" / "checkpoints" / "reacher")
    g = torch.Generator().manual_seed(0)
    d, a = model.cfg.embed_dim, model.cfg.action_block_dim
    z = torch.randn(1, args.history, d, generator=g)
    a_hist = torch.randn(1, args.history - 1, a, generator=g)
    plan = torch.randn(1, args.samples, 5, a, generator=g)
    current, old = model._fast_rollout(), baseline_class(args.baseline)(model)
    c_plan = model.action_encoder(plan.reshape(args.samples, 5, a))
    c_hist = model.action_encoder(a_hist) if args.history > 1 else None
    z_flat = z.expand(args.samples, -1, -1)
    c_flat = c_plan if c_hist is None else torch.cat([c_hist.expand(args.samples, -1, -1), c_plan], 1)

    def run_new():
        return current.rollout(z, c_hist, c_plan[None], model.rollout_chunk)

    def run_old():
        return old.rollout(z_flat, c_flat, 5)

    diff = (run_new()[0] - run_old()).abs().max().item()
    times = interleaved({"before": (run_old, run_old), "after": (run_new, run_new)}, args.repeats)
    before, after = statistics.median(times["before"]), statistics.median(times["after"])
    m = machine()
    print(f"| {args.samples} candidates, Th = {args.history}, horizon 5 | {before * 1000:.0f} ms | "
          f"{after * 1000:.0f} ms | **{before / after:.2f}x** | {diff:.1e} | load {m['loadavg_1_5_15'][0]:.1f} |")


if __name__ == "__main__":
    main()
