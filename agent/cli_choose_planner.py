"""``lewm-choose-planner``: record a checkpoint's default planner, the fastest of those that evaluate best.

    lewm-eval --env cube --suite lewm --nontrivial --planner mppi --planner proposal --seed 0 --out eval/s0
    lewm-eval ... --seed 1 --out eval/s1
    lewm-choose-planner --checkpoint world_model/checkpoints/cube eval/s0/results.json eval/s1/results.json

Writes ``<checkpoint>/planning.json`` (``agent.planner_choice``), which ``--planner auto`` (the default) reads.
Successes are pooled per planner and suite over every run given. A planner qualifies when it reaches the most
pooled successes on every suite; among those the one with the least planning time per env and replan wins (the
real-time rule: the fastest setting that keeps success). When no planner is best on every suite, MPPI is kept.
Runs that used waypoints count under their planner; runs of other checkpoints in the files are skipped.

``--setting substep_correlation=0`` (repeatable) records planner settings beside the choice
(``agent.planner_choice.SETTINGS``); then only runs made with those settings count:

    lewm-choose-planner --checkpoint world_model/checkpoints/pusht --setting substep_correlation=0 eval/s*/results.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from agent.planner_choice import DEFAULT_PLANNER, SETTINGS, write_planner_choice
from agent.pretrained import PLANNERS
from common.cli_errors import UserInputError, run_cli

PROG = "lewm-choose-planner"


@dataclass
class Tally:
    """One planner's runs of one suite, pooled."""

    successes: int = 0
    episodes: int = 0
    seconds: float = 0.0  # planning seconds per env and replan, summed over the runs
    runs: int = 0

    @property
    def rate(self) -> float:
        return self.successes / self.episodes

    @property
    def mean_seconds(self) -> float:
        return self.seconds / self.runs


def pooled(runs: list[dict]) -> dict[str, dict[str, Tally]]:
    """Per planner, per suite: the pooled :class:`Tally` of ``runs`` (``lewm-eval`` summaries)."""
    totals: dict = defaultdict(lambda: defaultdict(Tally))
    for run in runs:
        planner = run["planner"].split("+")[0]
        if planner not in PLANNERS:
            raise ValueError(f"run of planner {run['planner']!r}: not one of {', '.join(PLANNERS)}")
        tally = totals[planner][run["suite"]]
        tally.successes += run["successes"]
        tally.episodes += run["episodes"]
        tally.seconds += run.get("plan_seconds_per_env_replan") or 0.0
        tally.runs += 1
    suites = {suite for by_suite in totals.values() for suite in by_suite}
    for planner, by_suite in totals.items():
        missing = suites - set(by_suite)
        if missing:
            raise ValueError(f"planner {planner} has no run of suite(s) {sorted(missing)}: compare on the same suites")
    return totals


def choose(totals: dict[str, dict[str, Tally]]) -> str:
    """The fastest planner among those with the highest pooled success rate on every suite; MPPI if none is."""
    suites = {suite for by_suite in totals.values() for suite in by_suite}
    best = {suite: max(t[suite].rate for t in totals.values()) for suite in suites}
    winners = [name for name, t in totals.items() if all(t[s].rate == best[s] for s in suites)]
    if not winners:
        return DEFAULT_PLANNER
    seconds = {name: sum(tally.mean_seconds for tally in totals[name].values()) for name in winners}
    return min(winners, key=lambda name: (seconds[name], name != DEFAULT_PLANNER))


def describe(totals: dict[str, dict[str, Tally]]) -> str:
    """'suite: planner s/n (x s per env replan), ...; ...' for the evidence line."""
    suites = sorted({suite for by_suite in totals.values() for suite in by_suite})
    parts = []
    for suite in suites:
        rows = sorted(totals.items(), key=lambda kv: -kv[1][suite].rate)
        parts.append(f"{suite}: " + ", ".join(f"{name} {t[suite].successes}/{t[suite].episodes} "
                                              f"({t[suite].mean_seconds:.3f} s per env replan)" for name, t in rows))
    return "; ".join(parts)


def parse_setting(text: str) -> tuple[str, float | str]:
    """``"substep_correlation=0"`` -> ("substep_correlation", 0.0); integers stay integers; ``"cost=min"`` ->
    ("cost", "min")."""
    name, sep, value = text.partition("=")
    if not sep or name not in SETTINGS:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE with NAME one of {', '.join(SETTINGS)}, got {text!r}")
    if isinstance(SETTINGS[name][0], str):
        if value not in SETTINGS[name]:
            raise argparse.ArgumentTypeError(f"{name}: one of {', '.join(SETTINGS[name])}, got {value!r}")
        return name, value
    try:
        number = int(value) if isinstance(SETTINGS[name][0], int) else float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name}: not a number: {value!r}") from None
    return name, number


def build_parser() -> argparse.ArgumentParser:
    from common.cli_help import essentials, help_style

    p = argparse.ArgumentParser(**help_style(PROG, __doc__))
    first = essentials(p)
    first.add_argument("--checkpoint", required=True, metavar="DIR", help="checkpoint folder to write planning.json "
                       "into")
    first.add_argument("results", nargs="+", help="results.json files of lewm-eval runs of that checkpoint")
    p.add_argument_group("planner settings").add_argument(
        "--setting", type=parse_setting, action="append", default=[], metavar="NAME=VALUE",
        help="a planner setting to record; only runs made with it count (repeatable)")
    return p


def _read_runs(path: str) -> list[dict]:
    """The run summaries of one ``lewm-eval`` results.json."""
    try:
        runs = json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise UserInputError(f"{path} is not JSON ({exc.msg}, line {exc.lineno}): give lewm-eval's results.json") \
            from None
    if not isinstance(runs, list) or not all(isinstance(r, dict) and "checkpoint" in r for r in runs):
        raise UserInputError(f"{path} is not a lewm-eval results.json (a list of run summaries)")
    return runs


def _main(argv) -> int:
    args = build_parser().parse_args(argv)
    settings = dict(args.setting)
    folder = Path(args.checkpoint).resolve()
    runs, skipped = [], 0
    for path in args.results:
        for run in _read_runs(path):
            if Path(run["checkpoint"]).resolve() != folder:
                skipped += 1  # a run of another checkpoint (e.g. another task of a multi-task lewm-eval)
            elif all(run["settings"].get(name) == value for name, value in settings.items()):
                runs.append(run)
    if not runs:
        made_with = f" made with {settings}" if settings else ""
        raise UserInputError(f"no run of {folder}{made_with} in {', '.join(args.results)}")
    if len({run["task"] for run in runs}) != 1:
        raise UserInputError("the runs are of several tasks: compare planners on one")
    totals = pooled(runs)
    if len(totals) < 2:
        raise UserInputError(f"only {', '.join(totals)} was evaluated on {folder}: a choice needs two planners or more")
    winner = choose(totals)
    lewm_runs = [r for r in runs if r.get("suite") == "lewm"]
    only = sum(bool(r["settings"].get("nontrivial_pairs_only")) for r in lewm_runs)
    nontrivial = ("" if not only else " (lewm: non-trivial pairs)" if only == len(lewm_runs)
                  else f" (lewm: {only} of {len(lewm_runs)} runs on non-trivial pairs only)")
    evidence = f"pooled over {len(args.results)} file(s){nontrivial}: {describe(totals)}"
    if settings:
        evidence += f"; runs made with {', '.join(f'{k} {v}' for k, v in settings.items())}"
    print(f"wrote {write_planner_choice(folder, winner, evidence, settings)}: {winner} ({evidence})")
    return 0


def main(argv=None) -> int:
    """Console entry point ``lewm-choose-planner``; returns the exit status."""
    return run_cli(PROG, _main, argv)


if __name__ == "__main__":
    sys.exit(main())
