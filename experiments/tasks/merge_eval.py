"""One table from several ``lewm-eval`` runs: their rows merged, sorted by task, and written like lewm-eval's own.

    python experiments/tasks/merge_eval.py experiments/tasks/cross_task_waypoints experiments/tasks/cross_task \\
        --out experiments/tasks/all_tasks

Writes ``results.json``, ``results.md`` (headed by the commands of the merged runs) and ``results.png`` into
``--out``, and prints the table.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from agent.report import markdown_table, write_reports  # noqa: E402

TASK_ORDER = ("reacher", "pointmass", "tworoom")


def merge(folders: list[Path]) -> tuple[list[dict], list[str]]:
    """The rows of every folder's results.json, by task (shipped order), then in the order given; and the
    first line of each results.md (its command)."""
    rows, commands = [], []
    for folder in folders:
        rows += json.loads((folder / "results.json").read_text())
        md = folder / "results.md"
        if md.exists():
            commands.append(md.read_text().splitlines()[0].rstrip())
    rank = {t: i for i, t in enumerate(TASK_ORDER)}
    rows.sort(key=lambda r: rank.get(r["task"], len(rank)))  # stable: keeps the folders' order within a task
    return rows, commands


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folders", nargs="+", type=Path, help="lewm-eval output folders")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    rows, commands = merge(args.folders)
    header = "Merged from:  \n" + "  \n".join(f"- {c}" for c in commands)
    write_reports(rows, args.out, header=header)
    print(markdown_table(rows))


if __name__ == "__main__":
    main()
