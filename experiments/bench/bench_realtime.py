"""Real-time planning (issue 17): decision latency and success of agent settings, one env at a time.

A robot runs one agent on one env, so latency is measured that way: every episode is its own run of the agent
on a single env (no batching across episodes), and each replan's wall time is recorded. Per setting it reports
the median and 95th percentile of the warm replans (all but an episode's first plan), the median first plan,
and the success rate with its 95 % interval. Results go to ``experiments/bench/realtime/<task>_<suite>_<name>
.json``; ``--report`` gathers every result file into ``experiments/bench/realtime.md`` and ``realtime.png``
(success against median warm-replan latency).

    python experiments/bench/bench_realtime.py --task reacher --suite lewm --episodes 50 \\
        --setting default=samples:300,iters:15,warm_iters:5,precision:fp32,proposal:off \\
        --setting fast=samples:64,iters:3,warm_iters:1
    python experiments/bench/bench_realtime.py --report

Settings (``key:value``, comma-separated): planner (cem/mppi/icem), samples, iters, warm_iters, topk, horizon,
precision (auto/bf16/fp32), proposal (on = the checkpoint's, off, or a file), waypoints (on/off), compile (on/off:
the rollout through torch.compile; the compile itself happens in the first episode's first plans). Unset keys
take ``make_agent``'s defaults. Run on an otherwise idle machine: timings shift with load.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "experiments" / "bench"))
from bench_common import machine  # noqa: E402
from common.cpu_threads import SINGLE_THREAD_ROWS  # noqa: E402

RESULTS = ROOT / "experiments" / "bench" / "realtime"
INT_KEYS = ("samples", "iters", "warm_iters", "topk", "horizon")
KEYWORDS = {"samples": "num_samples", "iters": "n_iters", "compile": "compile_rollout"}


def parse_setting(text: str) -> tuple[str, dict]:
    """``"fast=samples:64,iters:3"`` -> ("fast", {"samples": 64, "iters": 3})."""
    name, _, body = text.partition("=")
    values = {}
    for item in filter(None, body.split(",")):
        key, _, value = item.partition(":")
        values[key] = int(value) if key in INT_KEYS else value
    return name, values


def agent_kwargs(values: dict) -> dict:
    """Bench setting -> ``make_agent`` keyword arguments."""
    onoff = {"on": True, "off": False}
    out = {}
    for key, value in values.items():
        if key in ("proposal", "waypoints", "compile"):
            out[KEYWORDS.get(key, key)] = onoff.get(value, value)
        else:
            out[KEYWORDS.get(key, key)] = value
    return out


def run_setting(task: str, suite: str, episodes: int, name: str, values: dict, seed: int = 0) -> dict:
    from agent.evaluation import free_pairs, lewm_pairs, run_episodes, suite_budget, wilson_interval
    from agent.agent import make_agent
    from agent.pretrained import make_task_env, resolve_checkpoint

    agent = make_agent(task, task=task, seed=seed, **agent_kwargs(values))
    budget = suite_budget(task, suite)
    if suite == "lewm":
        pairs = lewm_pairs(resolve_checkpoint(task) / "heldout_states.h5", episodes, 25, seed=seed)
    else:
        probe = make_task_env(agent, task)
        pairs = free_pairs(probe, episodes, seed=seed)
        probe.close()
    first, warm, results = [], [], []
    start = time.perf_counter()
    for i, pair in enumerate(pairs):
        agent.planner.reset(seed + i)
        episode, seconds, _ = run_episodes(lambda: make_task_env(agent, task), agent, [pair], budget, progress=False)
        results.append(episode[0])
        first.append(seconds[0])
        warm.extend(seconds[1:])
        print(f"  {task}/{suite}/{name} {i + 1}/{len(pairs)}: {'ok' if episode[0].success else '--'} "
              f"{len(seconds)} plans, warm median {np.median(seconds[1:] or [np.nan]) * 1e3:.0f} ms", flush=True)
    ok = sum(r.success for r in results)
    lo, hi = wilson_interval(ok, len(results))
    return {"task": task, "suite": suite, "name": name, "setting": values, "episodes": len(results),
            "success": ok, "success_rate": ok / len(results), "ci95": [lo, hi],
            "nontrivial_success": sum(r.success for r in results if not r.trivial_start),
            "nontrivial": sum(not r.trivial_start for r in results),
            "warm_ms_median": float(np.median(warm) * 1e3) if warm else None,
            "warm_ms_p95": float(np.percentile(warm, 95) * 1e3) if warm else None,
            "first_ms_median": float(np.median(first) * 1e3), "replans": len(first) + len(warm),
            "precision": agent.precision, "proposal": agent.proposal is not None,
            "single_thread_rows": SINGLE_THREAD_ROWS,
            "planner": type(agent.planner).__name__, "num_samples": agent.planner.num_samples,
            "n_iters": agent.planner.n_iters, "warm_iters": agent.warm_iters, "topk": agent.planner.topk,
            "wall_seconds": time.perf_counter() - start, "machine": machine(),
            "per_episode": [[bool(r.success), int(r.steps), float(r.final_error)] for r in results],
            "env": {k: os.environ.get(k) for k in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}}


# ------------------------------------------------------------------------------------------------ report
def load_results() -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))]


def _threads(result: dict) -> str:
    """Threads of the rollouts: runs before the one-thread rule for small rollouts used the process's 2 throughout."""
    rows = result.get("single_thread_rows")
    if rows is None:
        return "2"
    return "1" if result["num_samples"] <= rows else "2"


def _fmt(value, spec: str, none: str = "-") -> str:
    return none if value is None else format(value, spec)


def write_report(results: list[dict], out_md: Path, out_png: Path) -> None:
    """realtime.md: one table per task/suite; realtime.png: success against median warm-replan latency."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups: dict[tuple, list] = {}
    for r in results:
        groups.setdefault((r["task"], r["suite"]), []).append(r)
    cpus = sorted({r["machine"]["cpu"] for r in results})
    lines = ["# Real-time planning (issue 17): latency and success, one env at a time", "",
             f"CPU(s) of these runs: {', '.join(cpus)}; 2 cores, torch {results[0]['machine']['torch']}, "
             f"{results[0]['machine']['threads']} threads. Latency: wall time of each replan of one agent on one env "
             f"(the default agent replans every action block = 5 env steps = 200 ms of robot time on reacher, "
             f"point mass and two rooms). Warm: every replan but an episode's first.", "",
             "Command: `python experiments/bench/bench_realtime.py --task TASK --suite SUITE --episodes N --setting "
             "NAME=...` per row (settings below), then `python experiments/bench/bench_realtime.py --report`.", ""]
    fig, axes = plt.subplots(1, len(groups), figsize=(4.2 * len(groups), 3.6), squeeze=False)
    for ax, ((task, suite), rows) in zip(axes[0], sorted(groups.items())):
        rows.sort(key=lambda r: r["warm_ms_median"] or 0)
        lines += [f"## {task}, {suite} protocol", "",
                  "| setting | planner | samples | iters first/warm | precision | proposal | rollout threads "
                  "| success | 95% CI | warm median ms | warm p95 ms | first plan ms | first / warm | CPU |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            ratio = r["first_ms_median"] / r["warm_ms_median"] if r["warm_ms_median"] else None
            lines.append(
                f"| {r['name']} | {r['planner']} | {r['num_samples']} | {r['n_iters']}/{r['warm_iters']} "
                f"| {r['precision']} | {'yes' if r['proposal'] else 'no'} | {_threads(r)} "
                f"| {r['success']}/{r['episodes']} "
                f"({100 * r['success_rate']:.0f}%) | {100 * r['ci95'][0]:.0f}-{100 * r['ci95'][1]:.0f}% "
                f"| {_fmt(r['warm_ms_median'], '.0f')} | {_fmt(r['warm_ms_p95'], '.0f')} "
                f"| {r['first_ms_median']:.0f} | {_fmt(ratio, '.1f')} | {r['machine']['cpu']} |")
            x = r["warm_ms_median"] or r["first_ms_median"]
            ax.errorbar(x, 100 * r["success_rate"], yerr=[[100 * (r["success_rate"] - r["ci95"][0])],
                                                           [100 * (r["ci95"][1] - r["success_rate"])]],
                        fmt="o", capsize=3)
            ax.annotate(r["name"], (x, 100 * r["success_rate"]), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
        lines.append("")
        ax.axvline(200, color="grey", ls="--", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("median warm replan (ms, log)")
        ax.set_ylabel("success (%)")
        ax.set_title(f"{task} / {suite}")
    fig.tight_layout()
    fig.savefig(out_png, dpi=120)
    marker = "## Reading"
    old = out_md.read_text() if out_md.exists() else ""
    tail = old[old.index(marker):] if marker in old else f"{marker} (added by hand)\n"
    out_md.write_text("\n".join(lines) + f"\n![success against latency]({out_png.name})\n\n" + tail)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", default="reacher")
    p.add_argument("--suite", default="lewm", choices=["lewm", "free"])
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--setting", action="append", default=[], help="NAME=key:value,... (see the module docstring)")
    p.add_argument("--report", action="store_true", help="write realtime.md and realtime.png from the results")
    args = p.parse_args()
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    RESULTS.mkdir(parents=True, exist_ok=True)
    for text in args.setting:
        name, values = parse_setting(text)
        result = run_setting(args.task, args.suite, args.episodes, name, values, args.seed)
        path = RESULTS / f"{args.task}_{args.suite}_{name}.json"
        path.write_text(json.dumps(result, indent=1))
        print(f"{path.name}: {result['success']}/{result['episodes']}, warm median "
              f"{_fmt(result['warm_ms_median'], '.0f')} ms (p95 {_fmt(result['warm_ms_p95'], '.0f')}), first "
              f"{result['first_ms_median']:.0f} ms", flush=True)
    if args.report:
        write_report(load_results(), RESULTS.parent / "realtime.md", RESULTS.parent / "realtime.png")


if __name__ == "__main__":
    main()
