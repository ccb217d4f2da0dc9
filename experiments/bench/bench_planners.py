"""Planner speed: our CEM/MPPI/iCEM against stable-worldmodel 0.1.1's CEMSolver/MPPISolver, in one run.

(a) Planner overhead: seconds per iteration with a trivial cost (no model), so only sampling, clipping, top-k
    and refit are timed.
(b) Whole plans with a LeWM predictor as the cost (``world_model.LeWM.rollout``, presets ``cpu`` and ``paper``),
    both sides with the same budget (300 samples x 30 iterations, horizon 5, action blocks of 5 x 2-D = 10-D),
    the same model and the same cost (squared distance of the last predicted embedding to a goal embedding).
    Reported as ratios peer time / our time, per configuration; runs are interleaved so that a changing machine
    load hits both sides alike.

The peer is installed with ``pip install --no-deps stable-worldmodel==0.1.1``. Its package ``__init__`` imports
modules that need torchvision's compiled ops, so the solver modules are imported under stub parent packages.

    python experiments/bench/bench_planners.py                          # cpu-size predictor, 2 rounds: 2-4 min here
    python experiments/bench/bench_planners.py --presets cpu paper      # + the paper-size predictor (~12 min more)
    python experiments/bench/bench_planners.py --batch 4 --planners CEM MPPI   # batched problems vs swm's loop
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import os
import statistics
import sys
import types
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import interleaved, machine  # noqa: E402
from peer_swm import load_peer_solvers  # noqa: E402
from planners import CEM, ICEM, MPPI  # noqa: E402

RESULTS = Path(__file__).resolve().parent
# MPPI as stable-worldmodel's MPPISolver runs it (temperature 0.5 in cost units, fixed std), so both sides do the
# same work; our default MPPI (temperature relative to the elite cost spread, refitted std) differs in both.
OURS = {"CEM": CEM, "MPPI": functools.partial(MPPI, temperature=0.5, temperature_units="cost", update_std=False),
        "iCEM": ICEM}


class PeerCost:
    """stable-worldmodel's ``Costable``: ``get_cost(info, candidates (B, S, H, A)) -> (B, S)``.

    The solver expands every info tensor to ``(B, S, ...)``; sample 0 of each is the original.
    """

    def __init__(self, cost_factory):
        self.cost_factory = cost_factory

    def get_cost(self, info: dict, candidates: torch.Tensor) -> torch.Tensor:
        return self.cost_factory(**{k: v[:, 0] for k, v in info.items()})(candidates)


def run_peer(solver_cls, cost_factory, context: dict, batch: int, samples: int, iters: int, horizon: int,
             action_dim: int, seed: int) -> None:
    """One peer plan, configured like LeWM's eval (``batch_size=1``: one env per solve)."""
    import gymnasium as gym

    solver = solver_cls(PeerCost(cost_factory), batch_size=1, num_samples=samples, n_steps=iters, topk=30,
                        seed=seed)
    config = types.SimpleNamespace(horizon=horizon, action_block=action_dim // 2)
    solver.configure(action_space=gym.spaces.Box(-1.0, 1.0, shape=(batch, 2)), n_envs=batch, config=config)
    with contextlib.redirect_stdout(io.StringIO()):  # the solver prints its solve time
        solver.solve(context)


def run_ours(planner_cls, cost_factory, context: dict, batch: int, samples: int, iters: int, horizon: int,
             action_dim: int, seed: int) -> None:
    planner = planner_cls(horizon=horizon, action_dim=action_dim, num_samples=samples, n_iters=iters, topk=30,
                          seed=seed)
    planner.plan(cost_factory(**context), batch_size=batch)


def trivial_cost_factory(**context):
    return lambda candidates: candidates.square().sum(dim=(-1, -2))


def lewm_cost_factory(model):
    """Cost = ||z_H - z_goal||^2 with ``z_H`` the last embedding of ``model.rollout``, shape (B, N)."""
    def factory(z_hist, a_hist, z_goal):
        def cost_fn(candidates):
            z_last = model.rollout(z_hist, a_hist, candidates)[:, :, -1]  # (B, N, D)
            return (z_last - z_goal[:, None]).square().sum(dim=-1)
        return cost_fn
    return factory


def section(cost_factory, context_for, batches, args, planners: dict, iters: int) -> list:
    """Times our planners and the peer's on one cost for each batch size; returns table rows."""
    rows = []
    peer = load_peer_solvers()
    for batch in batches:
        context = context_for(batch)
        common = dict(batch=batch, samples=args.samples, horizon=args.horizon, action_dim=args.action_dim,
                      seed=args.seed)
        configs = {}
        for name in planners:
            runs = [("ours", run_ours, OURS[name])] + ([("swm", run_peer, peer[name])] if name in peer else [])
            for side, runner, cls in runs:
                configs[(name, side)] = (
                    lambda r=runner, c=cls: r(c, cost_factory, context, iters=iters, **common),
                    lambda r=runner, c=cls: r(c, cost_factory, context, iters=2, **common))
        times = interleaved(configs, args.repeats)
        for name in planners:
            ours, peer_times = times[(name, "ours")], times.get((name, "swm"))
            # The ratio is the median over rounds of the paired (same round) ratios: robust to load drift.
            ratio = None if peer_times is None else statistics.median(p / o for p, o in zip(peer_times, ours))
            rows.append(dict(planner=name, batch=batch, ours_s=statistics.median(ours),
                             swm_s=None if peer_times is None else statistics.median(peer_times),
                             ratio=ratio, ours_all_s=ours, swm_all_s=peer_times))
    return rows


def fmt(x, unit=""):
    return "-" if x is None else f"{x:.3f}{unit}"


def write_results(report: dict, stem: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=2))
    m = report["machine"]
    lines = [
        "# Planner speed: lewm-plan vs stable-worldmodel 0.1.1", "",
        f"- Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['threads']} threads), "
        f"Python {m['python']}, {m['date']}",
        f"- Load average (1, 5, 15 min) at start: {', '.join(f'{x:.1f}' for x in m['loadavg_1_5_15'])}; "
        f"at end: {', '.join(f'{x:.1f}' for x in report['loadavg_end'])}",
        f"- Command: `{report['command']}`",
        f"- Budget: {report['args']['samples']} samples x {report['args']['iters']} iterations, horizon "
        f"{report['args']['horizon']}, action dim {report['args']['action_dim']}; median of "
        f"{report['args']['repeats']} interleaved rounds after a 2-iteration warm-up; swm / ours is the median of "
        "the per-round ratios.",
        "- swm runs with `batch_size=1` (its default and LeWM's eval setting): B problems are B sequential solves.",
        "- Ours evaluates the returned plan once more (`eval_final=True`, one extra N=1 cost call per plan).",
        "- iCEM (ours) decays its population (300 -> 60), so it evaluates ~28 % of CEM's candidates; no swm "
        "counterpart is timed (swm's ICEMSolver has no decay).", "",
    ]
    for title, key, unit in (("(a) Planner overhead, trivial cost: ms per iteration (plan time / iterations)",
                              "overhead", "ms"),
                             ("(b) Whole plan with a LeWM predictor as the cost: seconds per plan", "plan", "s")):
        lines += [f"## {title}", "", "| predictor | planner | B | ours | swm | swm / ours |",
                  "|---|---|---|---|---|---|"]
        for row in report[key]:
            scale = 1000.0 / report["args"]["iters"] if unit == "ms" else 1.0
            ours = row["ours_s"] * scale
            swm = None if row["swm_s"] is None else row["swm_s"] * scale
            lines.append(f"| {row.get('predictor', '-')} | {row['planner']} | {row['batch']} | {fmt(ours, unit)} | "
                         f"{fmt(swm, unit)} | {fmt(row['ratio'], 'x')} |")
        lines.append("")
    (RESULTS / f"{stem}.md").write_text("\n".join(lines))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--presets", nargs="+", default=["cpu"], choices=["cpu", "paper"],
                   help="LeWM predictor sizes: cpu (4 layers, 4x48 heads, mlp 768), paper (6 layers, 16x64, 2048)")
    p.add_argument("--planners", nargs="+", default=["CEM", "MPPI", "iCEM"], choices=list(OURS))
    p.add_argument("--batch", nargs="+", type=int, default=[1], help="numbers of problems B per plan (part b)")
    p.add_argument("--overhead-batch", nargs="+", type=int, default=[1, 16], help="B for part (a)")
    p.add_argument("--repeats", type=int, default=2, help="timed rounds per configuration (median reported)")
    p.add_argument("--samples", type=int, default=300)
    p.add_argument("--iters", type=int, default=30)
    p.add_argument("--horizon", type=int, default=5)
    p.add_argument("--action-dim", type=int, default=10, help="action block size (frameskip x raw action dim)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads; 0 keeps torch's default. 1 because on a shared 2-core machine two "
                        "threads stall at OpenMP barriers whenever another job runs "
                        "(experiments/bench/planners_2threads.md)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="planners", help="results file stem under experiments/bench/")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    report = dict(command="python " + " ".join(sys.argv), args=vars(args), machine=machine())

    report["overhead"] = section(trivial_cost_factory, lambda b: dict(z_goal=torch.zeros(b, 1)),
                                 args.overhead_batch, args, args.planners, args.iters)
    print("overhead done", flush=True)

    from world_model import LeWM, LeWMConfig

    report["plan"] = []
    for preset in args.presets:
        model = LeWM(LeWMConfig.preset(preset)).eval()
        cfg = model.cfg
        if cfg.action_block_dim != args.action_dim:
            raise SystemExit(f"preset {preset} has action blocks of {cfg.action_block_dim}, not {args.action_dim}")
        # Zero-initialised AdaLN-zero layers would make every plan cost the same; give them random weights.
        with torch.no_grad():
            for block in model.predictor.blocks:
                torch.nn.init.normal_(block.adaLN_modulation[-1].weight, std=0.02)

        def context_for(batch, d=cfg.embed_dim, hist=cfg.history_size):
            return dict(z_hist=torch.randn(batch, hist, d), a_hist=torch.randn(batch, hist - 1, args.action_dim),
                        z_goal=torch.randn(batch, d))

        rows = section(lewm_cost_factory(model), context_for, args.batch, args, args.planners, args.iters)
        report["plan"] += [dict(row, predictor=f"LeWM {preset}") for row in rows]
        print(f"{preset} done", flush=True)

    report["loadavg_end"] = list(os.getloadavg())
    write_results(report, args.out)
    print((RESULTS / f"{args.out}.md").read_text())


if __name__ == "__main__":
    main()
