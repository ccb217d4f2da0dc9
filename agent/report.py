"""Writing evaluation results: JSON, a Markdown table, and a PNG plot of success rates with intervals."""

from __future__ import annotations

import json
from pathlib import Path

from envs.registry import TASKS
from world_model.io_utils import atomic_write, atomic_write_text

SUITE_TITLES = {"lewm": "LeWM protocol (goal 25 steps ahead, budget 50)",
                "free": "free goal: a random pose, or the task's own target (budget per task: "
                        + ", ".join(f"{spec.name} {spec.free_budget}" for spec in TASKS.values()) + ")"}


def _fmt(value, spec: str, missing: str = "–") -> str:
    return missing if value is None else format(value, spec)


def _error_cell(s: dict) -> str:
    """Median final error with its unit (rad for reacher, m for the position tasks)."""
    value = s.get("median_final_error")
    unit = s.get("error_unit") or ""
    return _fmt(value, ".3f") + (f" {unit}" if value is not None and unit else "")


def _cross_room_cell(s: dict) -> str:
    """Success on goals in the other room (tasks with rooms), e.g. ``3/10 (30%)``; – otherwise."""
    n = s.get("cross_room_goals")
    if not n:
        return "–" if n is None else "0 goals"
    k = s["cross_room_successes"]
    return f"{k}/{n} ({100 * k / n:.0f}%)"


def _metrics_cell(s: dict) -> str:
    """The task's own measures at the episodes' end, averaged, in words (pusht: ``the block covers 91 % of the goal
    T (mean)``); – if none."""
    from agent.metric_words import describe

    metrics = s.get("metrics") or {}
    return "; ".join(describe(k, v, mean=True) for k, v in metrics.items()) or "–"


def markdown_table(summaries: list[dict]) -> str:
    """One row per (task, suite, planner): success with its 95 % Wilson interval, steps, final error with its
    unit, trivial starts (already within tolerance), success on other-room goals, planning time."""
    lines = [
        "| task | suite | planner | success | 95% CI | mean steps to success | median final error "
        "| trivial starts | other-room goals: success | task measures (mean at end) | plan s / replan (batch) "
        "| plan s / replan / env |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        lo, hi = s["ci95"]
        trivial = s.get("trivial_starts")
        lines.append(
            f"| {s['task']} | {s['suite']} | {s['planner']} | {s['successes']}/{s['episodes']} "
            f"({100 * s['success_rate']:.0f}%) | {100 * lo:.0f}–{100 * hi:.0f}% "
            f"| {_fmt(s['mean_steps_to_success'], '.1f')} | {_error_cell(s)} "
            f"| {_fmt(trivial, 'd')} | {_cross_room_cell(s)} | {_metrics_cell(s)} "
            f"| {_fmt(s['plan_seconds_per_replan'], '.2f')} | {_fmt(s['plan_seconds_per_env_replan'], '.3f')} |"
        )
    return "\n".join(lines) + "\n"


def plot_success(summaries: list[dict], path) -> None:
    """Bar chart of success rates with 95 % intervals, one bar per (task, suite, planner)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{s['task']}\n{s['suite']}\n{s['planner']}" for s in summaries]
    rates = [100 * s["success_rate"] for s in summaries]
    err = [[100 * (s["success_rate"] - s["ci95"][0]) for s in summaries],
           [100 * (s["ci95"][1] - s["success_rate"]) for s in summaries]]
    fig, ax = plt.subplots(figsize=(max(4, 1.3 * len(summaries)), 3.6))
    ax.bar(range(len(rates)), rates, yerr=err, capsize=4, color="#4c78a8")
    ax.set_xticks(range(len(rates)), labels, fontsize=8)
    ax.set_ylim(0, 105)
    ax.set_ylabel("success rate (%)")
    ax.set_title("lewm-eval: success with 95% Wilson intervals", fontsize=10)
    fig.tight_layout()
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    finally:
        plt.close(fig)


def write_reports(runs_json: list[dict], out_dir, header: str = "") -> dict[str, Path]:
    """Writes ``results.json``, ``results.md`` and ``results.png`` into ``out_dir`` (each atomically: a temporary
    file, then a rename); returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "results.json", "md": out / "results.md", "png": out / "results.png"}
    atomic_write_text(paths["json"], json.dumps(runs_json, indent=2))
    atomic_write_text(paths["md"], (header + "\n\n" if header else "") + markdown_table(runs_json))
    plot_success(runs_json, paths["png"])
    return paths
