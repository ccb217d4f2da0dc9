"""Peak memory of one CPU plan per candidate: the figure behind ``agent/plan_memory.py``'s estimate.

    python experiments/bench/measure_plan_memory.py --samples 20000 80000

Each sample count runs in a fresh process (peak RSS only grows), plans once with the shipped reacher model
(straight, 1 iteration), and reports the peak RSS growth over the process before planning, per candidate, beside
``plan_bytes`` (the estimate the commands check against).
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

CHILD = """
import json, resource, sys
import envs
from agent.agent import make_agent
from agent.plan_memory import plan_bytes
n = int(sys.argv[1])
agent = make_agent("reacher", device="cpu", num_samples=n, n_iters=1, waypoints=False)
env = envs.make("reacher").unwrapped
obs, info = env.reset(seed=0)
agent.set_goal(info["goal"])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
agent.act(obs)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
cfg = agent.world_model.cfg
print(json.dumps({"samples": n, "measured_kb_per_candidate": (after - before) / n,
                  "estimate_kb_per_candidate": plan_bytes(agent.planner.horizon, cfg.embed_dim,
                                                          cfg.action_block_dim, n) / n / 1024}))
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, nargs="+", default=[20000, 80000])
    args = p.parse_args()
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")),
               platform.processor())
    print(f"CPU: {cpu}")
    for n in args.samples:
        out = subprocess.run([sys.executable, "-c", CHILD, str(n)], capture_output=True, text=True, cwd=ROOT,
                             check=True).stdout.strip().splitlines()[-1]
        row = json.loads(out)
        print(f"{n} samples: measured {row['measured_kb_per_candidate']:.1f} KB per candidate, "
              f"estimate {row['estimate_kb_per_candidate']:.1f} KB")


if __name__ == "__main__":
    main()
