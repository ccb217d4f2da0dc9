"""Record a checkpoint's default planner from evaluations of it: the planner with the most successes, pooled.

    lewm-eval --env cube --suite lewm --nontrivial --planner mppi --planner proposal --seed 0 --out eval/s0
    lewm-eval ... --seed 1 --out eval/s1
    python experiments/choose_planner.py --checkpoint world_model/checkpoints/cube eval/s0/results.json eval/s1/results.json

Writes ``<checkpoint>/planning.json`` (``agent.planner_choice``), which ``--planner auto`` (the default) reads, with
each planner's pooled count as its evidence. Every run must be of that checkpoint and of one suite; runs that used
waypoints count under their planner. A tie keeps MPPI.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from agent.planner_choice import DEFAULT_PLANNER, write_planner_choice
from agent.pretrained import PLANNERS


def pooled_successes(runs: list[dict]) -> dict[str, tuple[int, int]]:
    """Per planner: (successes, episodes) over ``runs`` (``lewm-eval`` summaries)."""
    suites = {run["suite"] for run in runs}
    if len(suites) != 1:
        raise ValueError(f"the runs mix suites {sorted(suites)}: compare planners on one suite")
    totals = defaultdict(lambda: [0, 0])
    for run in runs:
        planner = run["planner"].split("+")[0]
        if planner not in PLANNERS:
            raise ValueError(f"run of planner {run['planner']!r}: not one of {', '.join(PLANNERS)}")
        totals[planner][0] += run["successes"]
        totals[planner][1] += run["episodes"]
    return {name: (s, n) for name, (s, n) in totals.items()}


def choose(totals: dict[str, tuple[int, int]]) -> str:
    """The planner with the highest pooled success rate; MPPI on a tie."""
    best = max(s / n for s, n in totals.values())
    winners = [name for name, (s, n) in totals.items() if s / n == best]
    return DEFAULT_PLANNER if DEFAULT_PLANNER in winners else winners[0]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True, help="checkpoint folder to write planning.json into")
    p.add_argument("results", nargs="+", help="results.json files of lewm-eval runs of that checkpoint")
    args = p.parse_args(argv)
    folder = Path(args.checkpoint).resolve()
    runs = []
    for path in args.results:
        for run in json.loads(Path(path).read_text()):
            if Path(run["checkpoint"]).resolve() != folder:
                raise SystemExit(f"{path}: a run of {run['checkpoint']}, not of {folder}")
            runs.append(run)
    totals = pooled_successes(runs)
    winner = choose(totals)
    suite = runs[0]["suite"] + (" (non-trivial pairs)" if runs[0]["settings"].get("nontrivial_pairs_only") else "")
    evidence = f"{suite}, pooled over {len(args.results)} file(s): " + ", ".join(
        f"{name} {s}/{n}" for name, (s, n) in sorted(totals.items(), key=lambda kv: -kv[1][0] / kv[1][1]))
    print(f"wrote {write_planner_choice(folder, winner, evidence)}: {winner} ({evidence})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
