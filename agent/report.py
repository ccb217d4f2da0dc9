"""Writing evaluation results: JSON, a Markdown table, and a PNG plot of success rates with intervals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from envs.registry import TASKS
from envs.task import LEWM_BUDGET, LEWM_GOAL_OFFSET
from common.io_utils import atomic_write, atomic_write_text

SUITE_TITLES = {"lewm": f"LeWM protocol (goal {LEWM_GOAL_OFFSET} steps ahead, budget {LEWM_BUDGET})",
                "free": "free goal: a random pose, or the task's own target (budget per task: "
                        + ", ".join(f"{spec.name} {spec.free_budget}" for spec in TASKS.values()) + ")"}


def _fmt(value, spec: str, missing: str = "–") -> str:
    return missing if value is None else format(value, spec)


def _error_cell(s: dict) -> str:
    """Median final error with its unit (rad for reacher, m for the position tasks)."""
    value = s.get("median_final_error")
    unit = s.get("error_unit") or ""
    return _fmt(value, ".3f") + (f" {unit}" if value is not None and unit else "")


def _groups_cell(s: dict) -> str:
    """Success on each group of episodes the task tags (tworoom: ``other-room goals 3/10 (30%)``); – if none."""
    from agent.metric_words import group_words

    cells = []
    for name, g in (s.get("groups") or {}).items():
        n, k = g["episodes"], g["successes"]
        cells.append(f"{group_words(name)} {k}/{n} ({100 * k / n:.0f}%)" if n else f"{group_words(name)}: none")
    return "; ".join(cells) or "–"


def _metrics_cell(s: dict) -> str:
    """The task's own measures at the episodes' end, averaged, in words (pusht: ``the block covers 91 % of the goal
    T (mean)``); – if none."""
    from agent.metric_words import describe

    metrics = s.get("metrics") or {}
    return "; ".join(describe(k, v, mean=True) for k, v in metrics.items()) or "–"


def markdown_table(summaries: list[dict]) -> str:
    """One row per (task, suite, planner): success with its 95 % Wilson interval, steps, final error with its
    unit, trivial starts (already within tolerance), success on the groups the task tags (tworoom: other-room
    goals), the task's measures, planning time."""
    lines = [
        "| task | suite | planner | success | 95% CI | mean steps to success | median final error "
        "| trivial starts | task groups: success | task measures (mean at end) | plan s / replan (batch) "
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
            f"| {_fmt(trivial, 'd')} | {_groups_cell(s)} | {_metrics_cell(s)} "
            f"| {_fmt(s['plan_seconds_per_replan'], '.2f')} | {_fmt(s['plan_seconds_per_env_replan'], '.3f')} |"
        )
    return "\n".join(lines) + "\n"


def plot_success(summaries: list[dict], path) -> None:
    """Three panels, one column per (task, suite, planner): success rates with 95 % intervals; the steps each
    successful episode took; every episode's final error (failures in red, log scale, the task's unit)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{s['task']}\n{s['suite']}\n{s['planner']}" for s in summaries]
    x = np.arange(len(summaries))
    rates = [100 * s["success_rate"] for s in summaries]
    err = [[100 * (s["success_rate"] - s["ci95"][0]) for s in summaries],
           [100 * (s["ci95"][1] - s["success_rate"]) for s in summaries]]
    fig, (ax, ax_steps, ax_err) = plt.subplots(1, 3, figsize=(max(9, 3.6 * len(summaries)), 3.8))
    ax.bar(x, rates, yerr=err, capsize=4, color="#4c78a8")
    ax.set_ylim(0, 105)
    ax.set_ylabel("success rate (%)")
    ax.set_title("success, 95% Wilson intervals", fontsize=9)
    jitter = np.random.default_rng(0)
    for i, s in enumerate(summaries):
        episodes = s.get("per_episode") or []
        steps = [e["steps"] for e in episodes if e["success"]]
        if steps:
            ax_steps.scatter(i + jitter.uniform(-0.2, 0.2, len(steps)), steps, s=10, color="#4c78a8", alpha=0.7)
            ax_steps.plot([i - 0.3, i + 0.3], [np.median(steps)] * 2, color="black", lw=2)
        for success, color in ((True, "#4c78a8"), (False, "#e45756")):
            errors = [max(e["final_error"], 1e-4) for e in episodes if bool(e["success"]) == success]
            if errors:
                ax_err.scatter(i + jitter.uniform(-0.2, 0.2, len(errors)), errors, s=10, color=color, alpha=0.7,
                               label=("success" if success else "failure") if i == 0 else None)
    ax_steps.set_ylabel("env steps to success")
    ax_steps.set_title("steps to success (bar: median)", fontsize=9)
    units = sorted({s.get("error_unit") or "" for s in summaries} - {""})
    ax_err.set_yscale("log")
    ax_err.set_ylabel(f"final error ({', '.join(units)})" if units else "final error")
    ax_err.set_title("final error per episode", fontsize=9)
    if any(s.get("per_episode") for s in summaries):
        ax_err.legend(fontsize=7)
    for a in (ax, ax_steps, ax_err):
        a.set_xticks(x, labels, fontsize=7)
        a.set_xlim(-0.6, len(summaries) - 0.4)
    fig.suptitle("lewm-eval", fontsize=10)
    fig.tight_layout()
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
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
