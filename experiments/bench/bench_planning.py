"""Planning speed against stable-worldmodel 0.1.1, and against this CPU's limit (issue 8).

Parts (``--parts``, all by default):

- ``ratio``: one env, the same budget (300 samples x 30 iterations, horizon 5, top 30), the same predictor
  weights: stable-worldmodel's ``CEMSolver`` over its own ``LeWM.get_cost`` rollout (our weights ported into its
  modules, checked to give the same costs) against our ``CEM`` over ``LeWM.rollout``, fast path and plain path.
  Presets: ``cpu`` (the shipped reacher model) and ``paper`` (random weights, 10.8 M-parameter predictor).
- ``batch``: N envs planned in one call, N = 1, 4, 16, 64: plans per second at the full budget and at the
  agent's warm-start budget (5 iterations), from the time per iteration.
- ``flops``: predictor FLOPs per rollout (counted by ``torch.utils.flop_counter``) over its time, against this
  CPU's measured fp32 and bf16 matrix-product throughput.
- ``success``: success against planning time per episode, from ``lewm-eval`` result files (see
  ``experiments/bench/planning_speed.md`` for the runs); writes ``planning_speed_success.png``.

Writes ``experiments/bench/planning_speed.{md,json}`` (``--name`` picks another stem, e.g. to keep a second CPU's
record beside the first). Run on an otherwise idle machine:

    python experiments/bench/bench_planning.py                       # ~12 minutes on the 2-core CPU
    python experiments/bench/bench_planning.py --parts success       # only re-reads the eval results
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import time
import types
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "experiments" / "bench"))
from bench_common import interleaved, machine  # noqa: E402
from peer_swm import PeerLeWMCost, check_same_cost, load_peer_solvers, peer_lewm  # noqa: E402
from planners import CEM  # noqa: E402
from world_model import LeWM, LeWMConfig  # noqa: E402
from world_model.rollout.precision import resolve_precision  # noqa: E402

RESULTS = ROOT / "experiments" / "bench"
PARTS = ("ratio", "batch", "flops", "success")
SHIPPED = ROOT / "world_model" / "checkpoints" / "reacher"


# ---------------------------------------------------------------------------------------------- models
def load_model(preset: str) -> LeWM:
    """``cpu``: the shipped reacher checkpoint. ``paper``: the paper-size model with random weights (its
    AdaLN-zero layers given random values too, or every plan would cost the same)."""
    if preset == "cpu":
        return LeWM.load(SHIPPED)
    torch.manual_seed(0)
    model = LeWM(LeWMConfig.preset("paper")).eval()
    with torch.no_grad():
        for block in model.predictor.blocks:
            torch.nn.init.normal_(block.adaLN_modulation[-1].weight, std=0.02)
    return model


def context(model: LeWM, batch: int, seed: int = 0) -> dict:
    """A start embedding (B, 1, D) and a goal embedding (B, D); Th = 1 as in swm's planning rollout."""
    g = torch.Generator().manual_seed(seed)
    d = model.cfg.embed_dim
    return dict(z_hist=torch.randn(batch, 1, d, generator=g), z_goal=torch.randn(batch, d, generator=g))


# ---------------------------------------------------------------------------------------------- planners
def plan_swm(peer, ctx: dict, samples: int, iters: int, horizon: int, action_dim: int, seed: int) -> None:
    """One swm CEM plan as LeWM's eval runs it (``batch_size=1``: one env per solve)."""
    import gymnasium as gym

    batch = ctx["z_hist"].shape[0]
    solver = load_peer_solvers()["CEM"](PeerLeWMCost(peer), batch_size=1, num_samples=samples, n_steps=iters,
                                        topk=30, seed=seed)
    config = types.SimpleNamespace(horizon=horizon, action_block=action_dim // 2)
    solver.configure(action_space=gym.spaces.Box(-1.0, 1.0, shape=(batch, 2)), n_envs=batch, config=config)
    with contextlib.redirect_stdout(io.StringIO()):  # the solver prints its solve time
        solver.solve(dict(ctx))


def plan_ours(model: LeWM, ctx: dict, samples: int, iters: int, horizon: int, action_dim: int, seed: int,
              fast: bool = True, bf16: bool = False, compile: bool = False, pack: bool = True) -> None:
    """One plan with our CEM over ``LeWM.rollout``; the terminal-latent cost swm's LeWM uses (``bf16``: the
    rollout in native bf16, as ``precision="auto"`` picks on a CPU where bf16 is faster; ``compile``: through
    ``torch.compile``, as ``--compile``; ``pack=False``: without oneDNN-packed weights, the rollout before them)."""
    z_hist, z_goal = ctx["z_hist"], ctx["z_goal"]

    def cost(candidates):
        return (model.rollout(z_hist, None, candidates)[:, :, -1] - z_goal[:, None]).square().sum(-1)

    planner = CEM(horizon=horizon, action_dim=action_dim, num_samples=samples, n_iters=iters, topk=30, seed=seed)
    model.use_fast_rollout, model.compile_rollout, model.pack_rollout_weights = fast, compile, pack
    try:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            planner.plan(cost, batch_size=z_hist.shape[0])
    finally:
        model.use_fast_rollout, model.compile_rollout, model.pack_rollout_weights = True, False, True


# ---------------------------------------------------------------------------------------------- parts
def part_ratio(args) -> list:
    rows = []
    for preset in args.presets:
        model = load_model(preset)
        peer = peer_lewm(model)
        ctx = context(model, 1)
        g = torch.Generator().manual_seed(1)
        err = check_same_cost(model, peer, ctx["z_hist"], ctx["z_goal"],
                              torch.randn(1, 64, args.horizon, model.cfg.action_block_dim, generator=g))
        common = dict(samples=args.samples, horizon=args.horizon, action_dim=model.cfg.action_block_dim,
                      seed=args.seed)
        configs = {
            "swm": (lambda: plan_swm(peer, ctx, iters=args.iters, **common),
                    lambda: plan_swm(peer, ctx, iters=2, **common)),
            "ours_plain": (lambda: plan_ours(model, ctx, iters=args.iters, fast=False, **common),
                           lambda: plan_ours(model, ctx, iters=2, fast=False, **common)),
            "ours_fast": (lambda: plan_ours(model, ctx, iters=args.iters, **common),
                          lambda: plan_ours(model, ctx, iters=2, **common)),
        }
        bf16 = resolve_precision("auto", "cpu") == "bf16"  # what the agent runs here
        if bf16:
            configs["ours_fast_bf16"] = (lambda: plan_ours(model, ctx, iters=args.iters, bf16=True, **common),
                                         lambda: plan_ours(model, ctx, iters=2, bf16=True, **common))
            configs["ours_fast_bf16_unpacked"] = (
                lambda: plan_ours(model, ctx, iters=args.iters, bf16=True, pack=False, **common),
                lambda: plan_ours(model, ctx, iters=2, bf16=True, pack=False, **common))
        if args.compile:  # in the precision the agent runs here
            configs["ours_fast_bf16_compile" if bf16 else "ours_fast_compile"] = (
                lambda: plan_ours(model, ctx, iters=args.iters, bf16=bf16, compile=True, **common),
                lambda: plan_ours(model, ctx, iters=2, bf16=bf16, compile=True, **common))
        times = interleaved(configs, args.repeats)
        swm = times["swm"]
        row = dict(preset=preset, predictor_params=model.num_parameters()["predictor"], port_max_cost_diff=err,
                   **{f"{k}_s": statistics.median(v) for k, v in times.items()},
                   **{f"{k}_all_s": v for k, v in times.items()})
        for k in [k for k in configs if k != "swm"]:  # median of same-round ratios: robust to drifting load
            row[f"ratio_{k}"] = statistics.median(s / o for s, o in zip(swm, times[k]))
        rows.append(row)
        print(f"ratio {preset}: swm {row['swm_s']:.2f}s, ours plain {row['ours_plain_s']:.2f}s, "
              f"fast {row['ours_fast_s']:.2f}s -> {row['ratio_ours_fast']:.2f}x", flush=True)
    return rows


def part_batch(args) -> list:
    model = load_model("cpu")
    rows = []
    for n in args.batch:
        ctx = context(model, n)
        common = dict(samples=args.samples, horizon=args.horizon, action_dim=model.cfg.action_block_dim,
                      seed=args.seed)
        plan_ours(model, ctx, iters=1, **common)  # warm-up
        iters = 2 if n >= 16 else 5
        start = time.perf_counter()
        plan_ours(model, ctx, iters=iters, **common)
        per_iter = (time.perf_counter() - start) / iters
        rows.append(dict(envs=n, seconds_per_iteration=per_iter, timed_iterations=iters,
                         plans_per_s_full=n / (per_iter * args.iters), plans_per_s_warm=n / (per_iter * 5)))
        print(f"batch N={n}: {per_iter * 1000:.0f} ms/iteration", flush=True)
    return rows


def matmul_gflops(dtype: torch.dtype, size: int = 2048, repeats: int = 3) -> float:
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size ** 3 * repeats / (time.perf_counter() - start) / 1e9


def part_flops(args) -> dict:
    from torch.utils.flop_counter import FlopCounterMode

    out = {}
    for preset in args.presets:
        model = load_model(preset)
        ctx = context(model, 1)
        plan = torch.randn(1, args.samples, args.horizon, model.cfg.action_block_dim)
        row = {}
        for fast in (True, False):
            model.use_fast_rollout = fast
            with torch.inference_mode():
                counter = FlopCounterMode(display=False)
                # The same arithmetic, counted where the counter sees it: packed oneDNN ops and the worker
                # threads a split rollout runs on escape it.
                threads, model.pack_rollout_weights = torch.get_num_threads(), False
                torch.set_num_threads(1)
                with counter:
                    model.rollout(ctx["z_hist"], None, plan)
                torch.set_num_threads(threads)
                model.pack_rollout_weights = True
                flops = counter.get_total_flops()
                model.rollout(ctx["z_hist"], None, plan)
                start = time.perf_counter()
                for _ in range(args.flop_repeats):
                    model.rollout(ctx["z_hist"], None, plan)
                seconds = (time.perf_counter() - start) / args.flop_repeats
            row["fast" if fast else "plain"] = dict(gflop_per_rollout=flops / 1e9, seconds=seconds,
                                                    gflops=flops / seconds / 1e9)
        model.use_fast_rollout = True
        peer = peer_lewm(model)
        with torch.inference_mode():
            counter = FlopCounterMode(display=False)
            info = {"z_hist": ctx["z_hist"][:, None].expand(1, args.samples, -1, -1),
                    "z_goal": ctx["z_goal"][:, None].expand(1, args.samples, -1)}
            with counter:
                PeerLeWMCost(peer).get_cost(info, plan)
        row["swm_gflop_per_rollout"] = counter.get_total_flops() / 1e9
        out[preset] = row
        print(f"flops {preset}: {row}", flush=True)
    out["peak_fp32_gflops"] = matmul_gflops(torch.float32, repeats=10)
    out["peak_bf16_gflops"] = matmul_gflops(torch.bfloat16, size=512, repeats=2)
    return out


def part_success(args) -> list:
    """Success rate against planning seconds per episode for each ``lewm-eval`` result listed in ``--runs``."""
    rows = []
    for label, folder in (r.split("=", 1) for r in args.runs):
        path = ROOT / folder / "results.json"
        if not path.exists():
            print(f"success: {path} missing, skipped", flush=True)
            continue
        for s in json.loads(path.read_text()):
            rows.append(dict(label=label, folder=folder, planner=s["planner"], episodes=s["episodes"],
                             successes=s["successes"], success_rate=s["success_rate"], ci95=s["ci95"],
                             plan_seconds_per_episode=s["plan_seconds_per_episode"],
                             plans_per_episode=s["plans_per_episode"], settings=s["settings"]))
    return rows


# ---------------------------------------------------------------------------------------------- report
def plot_success(rows: list, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for row in rows:
        lo, hi = row["ci95"]
        x, y = row["plan_seconds_per_episode"], row["success_rate"]
        ax.errorbar([x], [y], yerr=[[y - lo], [hi - y]], fmt="o", capsize=3, label=row["label"])
    ax.set_xscale("log")
    ax.set_xlabel("planning seconds per episode (this CPU, log scale)")
    ax.set_ylabel("success rate (95% Wilson CI)")
    ax.set_title("Reacher, LeWM protocol: success vs planning time")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(report: dict, name: str = "planning_speed") -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    old = RESULTS / f"{name}.json"
    previous = json.loads(old.read_text()) if old.exists() else {}
    commands = previous.get("commands", {})
    commands.update({part: report["command"] for part in PARTS if report.get(part) is not None})
    # parts not run this time keep their last results (and the command that measured them)
    report = {**previous, **{k: v for k, v in report.items() if v is not None}, "commands": commands}
    old.write_text(json.dumps(report, indent=2))
    m, a = report["machine"], report["args"]
    lines = ["# Planning speed (issue 8)", "",
             f"- Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['threads']} threads), Python "
             f"{m['python']}, {m['date']}; load average at start {m['loadavg_1_5_15'][0]:.1f}",
             "- Commands (each part keeps its last run):"] + [
                f"  - part {part}: `{cmd}`" for part, cmd in report["commands"].items()] + [""]
    if report.get("ratio"):
        lines += ["## 1. Same budget, same predictor: stable-worldmodel 0.1.1 CEM vs ours", "",
                  f"One env, {a['samples']} samples x {a['iters']} iterations, horizon {a['horizon']}, top 30, fp32. "
                  "swm runs its own `LeWM.get_cost` rollout with our weights ported into its modules (max cost "
                  "difference to ours shown). Median of "
                  f"{a['repeats']} interleaved rounds; the ratio is the median of same-round ratios.", "",
                  "| predictor | params | swm CEM | ours, plain rollout | ours, fast rollout | swm / ours fast | "
                  "ours, bf16, weights not packed | ours, fast rollout, bf16 (`precision=auto` here) | "
                  "swm / ours bf16 | "
                  "ours, compiled (`--compile`, precision as `auto`) | swm / ours compiled | port max cost diff |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in report["ratio"]:
            unpacked = (f"{r['ours_fast_bf16_unpacked_s']:.2f} s ({r['ratio_ours_fast_bf16_unpacked']:.2f}x)"
                        if "ours_fast_bf16_unpacked_s" in r else "-")
            bf16 = (f"{r['ours_fast_bf16_s']:.2f} s | **{r['ratio_ours_fast_bf16']:.2f}x**" if "ours_fast_bf16_s" in r
                    else "not faster here: fp32 | -")
            compiled = next((k for k in ("ours_fast_bf16_compile", "ours_fast_compile") if f"{k}_s" in r), None)
            comp = (f"{r[f'{compiled}_s']:.2f} s{'' if 'bf16' in compiled else ' (fp32)'} | "
                    f"**{r[f'ratio_{compiled}']:.2f}x**" if compiled else "not run | -")
            lines.append(f"| {r['preset']} | {r['predictor_params'] / 1e6:.2f} M | {r['swm_s']:.2f} s | "
                         f"{r['ours_plain_s']:.2f} s ({r['ratio_ours_plain']:.2f}x) | {r['ours_fast_s']:.2f} s | "
                         f"**{r['ratio_ours_fast']:.2f}x** | {unpacked} | {bf16} | {comp} | "
                         f"{r['port_max_cost_diff']:.1e} |")
        lines.append("")
    if report.get("batch"):
        lines += ["## 3. Batched planning: N envs in one plan (shipped cpu-preset model, fast rollout)", "",
                  "| N envs | s / iteration | plans / s at 30 iterations | plans / s at 5 (warm) iterations |",
                  "|---|---|---|---|"]
        for r in report["batch"]:
            lines.append(f"| {r['envs']} | {r['seconds_per_iteration']:.3f} | {r['plans_per_s_full']:.3f} | "
                         f"{r['plans_per_s_warm']:.3f} |")
        lines.append("")
    if report.get("flops"):
        f = report["flops"]
        lines += ["## 4. The machine's limit", "",
                  f"Measured 2048^3 matrix products here: fp32 **{f['peak_fp32_gflops']:.0f} GFLOP/s**, bf16 "
                  f"**{f['peak_bf16_gflops']:.1f} GFLOP/s** (this EPYC has AVX2 only, no native bf16: torch "
                  "falls back to a slow kernel).", "",
                  "| predictor | rollout | GFLOP per 300-candidate rollout | ms | GFLOP/s | of fp32 peak | "
                  "of bf16 peak |", "|---|---|---|---|---|---|---|"]
        for preset in a["presets"]:
            if preset not in f:
                continue
            for path in ("plain", "fast"):
                r = f[preset][path]
                lines.append(f"| {preset} | {path} | {r['gflop_per_rollout']:.2f} | {r['seconds'] * 1000:.0f} | "
                             f"{r['gflops']:.0f} | {r['gflops'] / f['peak_fp32_gflops']:.0%} | "
                             f"{r['gflops'] / f['peak_bf16_gflops']:.0f}x |")
            lines.append(f"| {preset} | swm | {f[preset]['swm_gflop_per_rollout']:.2f} | | | | |")
        lines.append("")
    swm_cpu = next((r["swm_s"] for r in report.get("ratio") or [] if r["preset"] == "cpu"), None)
    for r in report.get("success") or []:
        # The swm-defaults configuration runs through our agent (same algorithm and budget); its planning time
        # per episode as stable-worldmodel would spend it: plans per episode x swm's measured time per plan.
        if r["label"].startswith("swm") and swm_cpu is not None:
            r["plan_seconds_per_episode"] = r["plans_per_episode"] * swm_cpu
            r["timed_as"] = f"{r['plans_per_episode']:.2f} plans x {swm_cpu:.2f} s (swm CEM, part 1)"
    if report.get("success"):
        lines += ["## 2. Success against planning time per episode (reacher, LeWM protocol)", "",
                  f"![success vs time]({name}_success.png)", "",
                  "| run | planner | settings | success | 95% CI | planning s / episode |", "|---|---|---|---|---|---|"]
        for r in report["success"]:
            s = r["settings"]
            cfg = (f"{s['num_samples']} samples, {s['n_iters']}/{s['warm_iters']} iters, receding "
                   f"{s['receding_horizon']}, cost {s['cost']}")
            lines.append(f"| {r['label']} | {r['planner']} | {cfg} | {r['successes']}/{r['episodes']} "
                         f"({r['success_rate']:.0%}) | {r['ci95'][0]:.0%}–{r['ci95'][1]:.0%} | "
                         f"{r['plan_seconds_per_episode']:.2f}"
                         f"{' (' + r['timed_as'] + ')' if 'timed_as' in r else ''} |")
        lines.append("")
    md = RESULTS / f"{name}.md"
    reading = md.read_text().split("\n## Reading", 1) if md.exists() else []
    if len(reading) == 2:  # the hand-written reading at the end survives a re-run
        lines += ["## Reading" + reading[1].rstrip("\n"), ""]
    md.write_text("\n".join(lines))
    if report.get("success"):
        plot_success(report["success"], RESULTS / f"{name}_success.png")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS)
    p.add_argument("--presets", nargs="+", default=["cpu", "paper"], choices=["cpu", "paper"])
    p.add_argument("--batch", nargs="+", type=int, default=[1, 4, 16, 64], help="N envs per plan (part batch)")
    p.add_argument("--repeats", type=int, default=3, help="timed rounds per configuration (part ratio)")
    p.add_argument("--flop-repeats", type=int, default=5)
    p.add_argument("--samples", type=int, default=300)
    p.add_argument("--iters", type=int, default=30)
    p.add_argument("--horizon", type=int, default=5)
    p.add_argument("--compile", action="store_true",
                   help="part ratio: also time our CEM through torch.compile, in the precision `auto` picks here "
                        "(the first plan compiles: minutes)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads; 0 keeps torch's default")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--name", default="planning_speed", help="stem of the report files in experiments/")
    p.add_argument("--runs", nargs="+", default=[], metavar="LABEL=FOLDER",
                   help="lewm-eval output folders for part success")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    report = dict(command="python experiments/" + " ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
                  args=vars(args), machine=machine())
    for part in PARTS:
        report[part] = globals()[f"part_{part}"](args) if part in args.parts else None
    report["loadavg_end"] = list(os.getloadavg())
    write_report(report, args.name)
    print((RESULTS / f"{args.name}.md").read_text())


if __name__ == "__main__":
    main()
