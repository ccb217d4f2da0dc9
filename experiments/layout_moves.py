"""The experiments/ layout by topic: moves the flat scripts and experiments/results/ into experiments/<topic>/ and
rewrites every reference to an old path in the tracked text files. Safe to run again: files already moved stay,
and a reference written since (a doc naming ``experiments/results/cube.md``) is rewritten to the new path.

    python experiments/layout_moves.py            # move (git mv) and rewrite
    python experiments/layout_moves.py --check    # list the old paths still named anywhere; exit 1 if any

Each study's script sits beside its results (``experiments/cube/cube_depth_cue.py`` and ``cube_depth_cue.json``),
the benches and their records in ``experiments/bench/``; ``experiments/configs/`` stays where it is.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXP = "experiments"

# Old flat script -> topic folder.
SCRIPTS = {
    "bench": ["bench_collect.py", "bench_common.py", "bench_compile.py", "bench_cube_render.py",
              "bench_history_sharing.py", "bench_planners.py", "bench_planning.py", "bench_realtime.py",
              "bench_render.py", "bench_row_split.py", "bench_train_speed.py", "realtime_bench.sh",
              "measure_plan_memory.py", "peer_swm.py"],
    "cube": ["cube_data_stats.py", "cube_depth_cue.py", "cube_graph_matching.py", "cube_oracle_subgoals.py",
             "cube_task_paths.py", "trace_cube_waypoints.py"],
    "pusht": ["pusht_coverage_tolerance.py", "pusht_data_stats.py"],
    "tworoom": ["data_coverage.py"],
    "tasks": ["merge_eval.py", "diagnose_misses.py"],
    "model": ["latent_check.py", "latent_reach.py", "rollout_error.py", "summarize_train_runs.py",
              "train_reacher.sh"],
    "setup": ["torch_index.py"],
}

# experiments/results/<entry> -> its new path under experiments/ (entries are files or folders; a name that ends in
# "*" stands for every entry that starts with what comes before it).
RESULTS = {
    "collection": "bench/", "collection.*": "bench/", "plan_memory.md": "bench/", "planners*": "bench/",
    "planning_speed*": "bench/",
    "realtime*": "bench/", "render": "bench/render", "row_split.json": "bench/", "speed_*": "bench/",
    "cube.md": "cube/", "cube_*": "cube/",
    "pusht.md": "pusht/", "pusht_*": "pusht/",
    "reacher_*": "reacher/",
    "tworoom_*": "tworoom/",
    "pointmass_*": "pointmass/",
    "tasks.md": "tasks/", "tasks": "tasks/all_tasks", "cross_task*": "tasks/", "follow_easy_tasks*": "tasks/",
    "cost_min_other_tasks": "tasks/",
    "value": "value",
    "world_model*": "model/", "latent_reach": "model/latent_reach",
}
# Scripts that became installed commands: "python experiments/X.py" -> the command; a link to one -> its module.
TOOLS = {"build_waypoints": ("lewm-waypoints", "agent/cli_waypoints.py"),
         "ship_checkpoint": ("lewm-ship", "world_model/model/ship.py"),
         "choose_planner": ("lewm-choose-planner", "agent/cli_choose_planner.py"),
         "merge_parts": ("lewm-merge", "agent/cli_merge.py")}
TOOL = re.compile(r"(\]\()?((?:\.\./)*)(?:(?:\.venv/bin/)?python3? |\$\(PY\) )?experiments/("
                  + "|".join(TOOLS) + r")\.py")
TEXT_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".cfg", ".sh", ".toml", ".json", ".txt", ".xml"}
TEXT_NAMES = {"Makefile"}
# The files that name old paths on purpose (this script and its test): never rewritten.
KEEP = {f"{EXP}/layout_moves.py", "tests/test_layout_moves.py"}


def result_target(entry: str) -> str | None:
    """The new path (below experiments/) of ``experiments/results/<entry>``; None if no rule names it."""
    for pattern, dest in RESULTS.items():
        hit = entry.startswith(pattern[:-1]) if pattern.endswith("*") else entry == pattern
        if hit:
            return dest + entry if dest.endswith("/") else dest
    return None


def new_path(old: str) -> str | None:
    """``experiments/results/cube.md`` -> ``experiments/cube/cube.md``; ``experiments/merge_eval.py`` ->
    ``experiments/tasks/merge_eval.py``; None for a path that does not move. ``experiments/results/`` itself, or a
    partial name (``experiments/results/planning_speed.``) maps when every entry it can mean maps alike."""
    rest = old[len(EXP) + 1:]
    if rest == "results":
        return EXP
    if "/" not in rest:
        for topic, names in SCRIPTS.items():
            if rest in names:
                return f"{EXP}/{topic}/{rest}"
        return None
    top, _, below = rest.partition("/")
    if top != "results":
        return None
    if not below:
        return f"{EXP}/"
    entry, sep, tail = below.partition("/")
    target = result_target(entry)
    if target is None:
        return None
    return f"{EXP}/{target}{sep}{tail}"


def tracked(others: bool = False) -> list[str]:
    """The tracked files; with ``others``, the untracked files git does not ignore too (docs being written)."""
    extra = ["--others", "--exclude-standard"] if others else []
    return subprocess.run(["git", "ls-files", "--cached", *extra], cwd=ROOT, check=True, capture_output=True,
                          text=True).stdout.split()


def moves() -> dict[str, str]:
    """Every tracked file still at an old path -> its new path."""
    found = {}
    for path in tracked():
        if path.startswith(f"{EXP}/") and (ROOT / path).exists():
            target = new_path(path)
            if target is not None and target != path:
                found[path] = target
    return found


# An old path as text: experiments/results/<anything path-like>, or a flat experiments/<script>.(py|sh).
OLD = re.compile(r"experiments/results(?:/[\w.*\-{},/]*)?|experiments/[\w\-]+\.(?:py|sh)\b")
LINK = re.compile(r"(\]\()([^)\s]+)(\))")


def rewrite_text(text: str) -> str:
    def tool(match):
        link, ups, name = match.group(1), match.group(2), match.group(3)
        command, module = TOOLS[name]
        return f"{link}{ups}{module}" if link else f"{ups}{command}"

    text = TOOL.sub(tool, text)

    def sub(match):
        old = match.group(0)
        # a glob or brace list (planners*.md, planning_speed.{json,md}) or a sentence's full stop: map the part
        # before it
        cut = min([i for i in (old.find("*"), old.find("{")) if i >= 0], default=len(old))
        head, tail = old[:cut], old[cut:]
        while head.endswith((".", ",")) and not tail:
            head, tail = head[:-1], head[-1] + tail
        target = new_path(head)
        return old if target is None else target + tail
    return OLD.sub(sub, text)


def fix_relative_links(text: str, old_file: str, new_file: str, mapping: dict[str, str]) -> str:
    """Relative markdown links of a moved file, pointed again at their targets (moved or not)."""
    def sub(match):
        link = match.group(2)
        if re.match(r"^[a-z]+:|^#|^/", link):
            return match.group(0)
        target, hash_, anchor = link.partition("#")
        resolved = os.path.normpath(os.path.join(os.path.dirname(old_file), target))
        moved = mapping.get(resolved) or new_path(resolved) if resolved.startswith(f"{EXP}/") else resolved
        moved = moved or resolved
        fresh = os.path.relpath(moved, os.path.dirname(new_file))
        if target.endswith("/") and not fresh.endswith("/"):
            fresh += "/"
        return f"{match.group(1)}{fresh}{hash_}{anchor}{match.group(3)}"
    return LINK.sub(sub, text)


def one_time_fixes(new_file: str, text: str) -> str:
    """Moved scripts sit one folder deeper: their way to the repository root and to their records."""
    if new_file.endswith(".py"):
        text = text.replace("Path(__file__).resolve().parents[1]", "Path(__file__).resolve().parents[2]")
        text = text.replace('sys.path.insert(0, str(ROOT / "experiments"))',
                            'sys.path.insert(0, str(ROOT / "experiments" / "bench"))')
        text = text.replace('ROOT / "experiments" / "results" / "realtime"',
                            'ROOT / "experiments" / "bench" / "realtime"')
        text = text.replace('ROOT / "experiments" / "results"', 'ROOT / "experiments" / "bench"')
        text = text.replace('Path(__file__).resolve().parent / "results"', "Path(__file__).resolve().parent")
    if new_file.endswith(".sh"):
        text = text.replace('cd "$(dirname "$0")/.."', 'cd "$(dirname "$0")/../.."')
    return text


def is_text(path: str) -> bool:
    p = Path(path)
    return (p.suffix in TEXT_SUFFIXES or p.name in TEXT_NAMES) and (ROOT / p).is_file()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="only list old paths still named; exit 1 if any")
    args = p.parse_args(argv)
    if args.check:
        left = [f"{path}: {m.group(0)}" for path in tracked(others=True) if is_text(path)
                and path not in KEEP
                for m in [*OLD.finditer((ROOT / path).read_text(errors="replace")),
                          *TOOL.finditer((ROOT / path).read_text(errors="replace"))]
                if m.re is TOOL or new_path(m.group(0).rstrip(".,*{")) is not None]
        print("\n".join(left) or "no old paths named")
        return 1 if left else 0
    mapping = moves()
    for old, new in mapping.items():
        (ROOT / new).parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "mv", old, new], cwd=ROOT, check=True)
    for new in mapping.values():
        path = ROOT / new
        if new.endswith(".md"):
            old = next(o for o, n in mapping.items() if n == new)
            path.write_text(fix_relative_links(path.read_text(), old, new, mapping))
        if new.endswith((".py", ".sh")):
            path.write_text(one_time_fixes(new, path.read_text()))
    changed = []
    for path in tracked(others=True):
        if not is_text(path) or path in KEEP:
            continue
        try:
            text = (ROOT / path).read_text()
        except UnicodeDecodeError:
            continue
        fresh = rewrite_text(text)
        if fresh != text:
            (ROOT / path).write_text(fresh)
            changed.append(path)
    print(f"moved {len(mapping)} files; rewrote references in {len(changed)} files", file=sys.stderr)
    for path in changed:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
