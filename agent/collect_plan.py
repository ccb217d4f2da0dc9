"""Data at scale: a collection plan of many shards, collected over as many runs (and sessions) as it takes.

A plan (YAML) names the task, the episode length, the shard size and groups of shards by data policy::

    env: cube
    steps: 500                 # env steps per episode
    episodes_per_shard: 100
    groups:                    # shards of each group: seeds seed, seed + 1, ...
      - {policy: oracle, shards: 16, seed: 1000}
      - {policy: oracle_wide, shards: 4, seed: 2000}
    heldout: {policy: oracle, episodes: 50, seed: 1}

Each shard is one ordinary ``lewm-collect`` HDF5 file in the output folder (``<policy>_s<seed>.h5``); the groups'
shards are interleaved in proportion, so a collection stopped early still mixes its policies as planned. A
``manifest.json`` beside them records the plan and, per finished shard, its episodes, frames, seconds (null for a
shard finished by a resumed run, whose ``resumed`` entry gives that run's episodes and seconds) and the
CPU; rerunning the same command skips finished shards and resumes the unfinished one from its finished episodes
(``agent.collect``). A plan that contradicts the folder's manifest is refused.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from agent.collect import CollectConfig, CollectError, collect
from common.cpu_info import cpu_label
from common.io_utils import atomic_write_text

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Shard:
    """One file of the plan: ``episodes`` episodes of ``policy`` from ``seed``."""

    name: str
    policy: str
    seed: int
    episodes: int


def load_plan(path) -> dict:
    """Reads and checks a plan file; raises CollectError (one line) on a malformed one."""
    try:
        plan = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise CollectError(f"cannot read collection plan {path}: {exc}") from None
    if not isinstance(plan, dict) or not isinstance(plan.get("groups"), list) or not plan["groups"]:
        raise CollectError(f"collection plan {path} needs 'env', 'steps', 'episodes_per_shard' and a list 'groups'")
    for key in ("steps", "episodes_per_shard"):
        if not isinstance(plan.get(key), int) or not 1 <= plan[key] <= 100_000:
            raise CollectError(f"collection plan {path}: '{key}' must be an integer in [1, 100000]")
    for group in plan["groups"] + ([plan["heldout"]] if plan.get("heldout") else []):
        if not isinstance(group, dict) or not isinstance(group.get("policy"), str) \
                or not isinstance(group.get("seed"), int):
            raise CollectError(f"collection plan {path}: each group needs 'policy' and an integer 'seed'")
    for group in plan["groups"]:
        if not isinstance(group.get("shards"), int) or not 1 <= group["shards"] <= 10_000:
            raise CollectError(f"collection plan {path}: each group's 'shards' must be an integer in [1, 10000]")
    return plan


def plan_shards(plan: dict) -> list[Shard]:
    """The shards in collection order: each group's shards spread evenly over the sequence (by the fraction of
    its group done), the held-out shard first."""
    order = []
    for group in plan["groups"]:
        for k in range(group["shards"]):
            shard = Shard(f"{group['policy']}_s{group['seed'] + k}", group["policy"], group["seed"] + k,
                          plan["episodes_per_shard"])
            order.append(((k + 0.5) / group["shards"], len(order), shard))
    shards = [shard for _, _, shard in sorted(order)]
    held = plan.get("heldout")
    if held:
        shards.insert(0, Shard(f"heldout_{held['policy']}_s{held['seed']}", held["policy"], held["seed"],
                               int(held.get("episodes", plan["episodes_per_shard"]))))
    return shards


def _read_manifest(folder: Path, plan: dict) -> dict:
    path = folder / MANIFEST
    if not path.is_file():
        return {"plan": plan, "shards": {}}
    try:
        manifest = json.loads(path.read_text())
    except ValueError:
        raise CollectError(f"{path} is damaged; move it away to rebuild it from the shard files") from None
    for key in ("env", "steps", "image_size"):
        if manifest["plan"].get(key) != plan.get(key):
            raise CollectError(f"{folder} holds a collection with {key}={manifest['plan'].get(key)!r}, the plan says "
                               f"{plan.get(key)!r}; use another --out folder")
    manifest["plan"] = plan  # groups may grow between runs: more shards of the same settings
    return manifest


def collect_plan(plan: dict, folder, workers: int = 1, max_shards: int | None = None, progress: bool = True) -> dict:
    """Collects the plan's unfinished shards into ``folder`` (created), at most ``max_shards`` of them in this
    call; returns the manifest. Each finished shard is recorded at once, so a stop loses at most the episode in
    progress."""
    plan = {"image_size": 64, **plan}
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = _read_manifest(folder, plan)
    atomic_write_text(folder / MANIFEST, json.dumps(manifest, indent=1))  # the plan is on record from the start
    done_now = 0
    for shard in plan_shards(plan):
        out = folder / f"{shard.name}.h5"
        if shard.name in manifest["shards"] and out.is_file():
            continue
        if max_shards is not None and done_now >= max_shards:
            break
        cfg = CollectConfig(env=plan["env"], episodes=shard.episodes, steps=plan["steps"],
                            image_size=plan["image_size"], seed=shard.seed, policy=shard.policy)
        resumed = {}
        if not out.is_file():
            summary = collect(cfg, out, workers=workers, progress=progress)
            seconds = summary["seconds"]
            if summary["collected_now"] < shard.episodes:
                # Part of the shard came from an earlier run, whose time is not known here: the shard's own time
                # stays unknown rather than understated, and this run's share is recorded apart.
                resumed = {"resumed": {"episodes": summary["collected_now"], "seconds": seconds}}
                seconds = None
        else:  # merged by an earlier run that stopped before recording it
            summary, seconds = {"episodes": shard.episodes, "frames": None}, None
        manifest["shards"][shard.name] = {"file": out.name, "policy": shard.policy, "seed": shard.seed,
                                          "episodes": summary["episodes"], "frames": summary["frames"],
                                          "seconds": seconds, **resumed, "workers": workers, "cpu": cpu_label(),
                                          "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
        atomic_write_text(folder / MANIFEST, json.dumps(manifest, indent=1))
        done_now += 1
    atomic_write_text(folder / MANIFEST, json.dumps(manifest, indent=1))
    return manifest


def manifest_summary(manifest: dict) -> str:
    """One line: shards and frames collected against the plan."""
    shards = plan_shards(manifest["plan"])
    frames = sum(s["frames"] or 0 for s in manifest["shards"].values())
    planned = sum(s.episodes for s in shards) * (manifest["plan"]["steps"] + 1)
    return (f"{len(manifest['shards'])} of {len(shards)} shards collected, {frames:,} of about {planned:,} "
            f"frames planned")
