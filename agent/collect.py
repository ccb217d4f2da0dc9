"""Dataset collection: run a data policy in an environment and record image trajectories.

Each episode is written as its own ``.npz`` part (atomically) into ``<out>.parts/`` as soon as it is finished,
so an interrupted run keeps every finished episode; rerunning the same command collects only what is missing.
When all parts exist they are merged into the HDF5 file (atomically) and the parts folder is removed.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from common.io_utils import DiskFullError, atomic_write, atomic_write_text, remove_stale_temps


@dataclass(frozen=True)
class CollectConfig:
    """What to collect. ``seed`` and the episode index fix each episode's start state and actions.

    ``policy`` names a data policy of ``envs.policies.POLICIES`` (``held_random`` for every task,
    ``door_seeking`` for tworoom); ``max_hold`` is the held-random hold limit, ``door_prob`` the chance that a
    ``door_seeking`` segment ends with a trip to the other room.
    """

    env: str
    episodes: int
    steps: int
    image_size: int = 64
    seed: int = 0
    policy: str = "held_random"
    max_hold: int = 10
    door_prob: float = 0.5
    # A user's gymnasium env (any id that is not one of ours): gym.make keyword arguments as JSON, the module that
    # registers the id, and the qpos entries that are angles.
    env_kwargs: str = ""
    env_import: str = ""
    angle_qpos: tuple = ()
    # The held-random policy's box as a fraction of the env's, about its centre (1: all of it). A responsive robot
    # driven with full random torques spins faster than a world model can follow (gymnasium's Reacher-v5).
    action_scale: float = 1.0


class CollectError(ValueError):
    """A problem the user can fix (paths, mismatched resume); reported as one line."""


_WORKER_ENV = {}


def _worker_env(cfg: CollectConfig):
    """One environment per worker process, built on first use."""
    import envs

    key = (cfg.env, cfg.image_size, cfg.env_kwargs, cfg.angle_qpos)
    if key not in _WORKER_ENV:
        for env in _WORKER_ENV.values():
            env.close()
        _WORKER_ENV.clear()
        envs.import_env_module(cfg.env_import)  # spawned workers register the user's ids themselves
        _WORKER_ENV[key] = envs.make_task_env(cfg.env, cfg.image_size, env_kwargs=cfg.env_kwargs or None,
                                              angle_qpos=cfg.angle_qpos)
    return _WORKER_ENV[key]


def _env_facts(cfg: CollectConfig) -> dict:
    """What the task's env says about its data, recorded with the dataset: physics steps per env step
    (reacher 2), which qpos entries are angles (reacher [0, 1], pointmass and tworoom none), the action box in
    the env's units, and for a user's gymnasium env its gym.make kwargs (JSON) and registering module."""
    env = _worker_env(cfg)
    low, high = _policy_box(cfg)
    return {"action_repeat": int(env.action_repeat), "look": str(env.look),
            "angle_qpos": np.asarray(env.angle_qpos, dtype=np.int64),
            "action_low": low, "action_high": high}


def _policy_box(cfg: CollectConfig) -> tuple[np.ndarray, np.ndarray]:
    """The box the data policy samples from (the env's, shrunk by ``action_scale`` about its centre): what the data
    covers, recorded with it so planners search the same box."""
    space = _worker_env(cfg).action_space
    mid, half = (space.high + space.low) / 2.0, (space.high - space.low) / 2.0
    return (mid - cfg.action_scale * half).astype(np.float64), (mid + cfg.action_scale * half).astype(np.float64)


def collect_episode(cfg: CollectConfig, index: int) -> dict[str, np.ndarray]:
    """Runs one episode of ``cfg.steps`` env steps; returns columns with ``steps + 1`` frames each.

    ``action[t]`` is the action taken at frame ``t``; the last frame has a NaN action (le-wm's convention).
    """
    from envs.policies import make_policy

    env = _worker_env(cfg)
    seed_seq = np.random.SeedSequence([cfg.seed, index])
    env_seed, policy_seed = (int(s) for s in seed_seq.generate_state(2))
    low, high = _policy_box(cfg)
    policy = make_policy(cfg.policy, cfg.env, env.action_space.shape[0], np.random.default_rng(policy_seed),
                         max_hold=cfg.max_hold, door_prob=cfg.door_prob, low=low, high=high, env=env)
    return run_episode(env, policy, cfg.steps, env_seed)


def run_episode(env, policy, steps: int, seed: int) -> dict[str, np.ndarray]:
    """``policy(obs, info) -> action`` in a task env from ``reset(seed=seed)`` for at most ``steps`` env steps.

    Returns columns with one row per frame: ``pixels`` uint8 (T+1, H, W, 3), ``action`` float32 (T+1, A) with a
    NaN action on the last frame (le-wm's convention), and ``qpos``/``qvel`` float32 when the env has a physical
    state. An episode the env itself terminates (not by success: a user's robot that fell over) ends early.
    """
    obs, info = env.reset(seed=seed)
    frames, actions, qpos, qvel = [obs], [], [info["qpos"]], [info["qvel"]]
    for _ in range(steps):
        action = np.asarray(policy(obs, info), dtype=np.float32).reshape(env.action_space.shape)
        obs, _, terminated, _, info = env.step(action)
        frames.append(obs)
        actions.append(action)
        qpos.append(info["qpos"])
        qvel.append(info["qvel"])
        if terminated and not info["success"]:
            break
    actions.append(np.full_like(actions[0], np.nan))
    columns = {"pixels": np.stack(frames).astype(np.uint8), "action": np.stack(actions).astype(np.float32)}
    if np.size(qpos[0]):  # envs without a physical state store pixels and actions only
        columns.update(qpos=np.stack(qpos).astype(np.float32), qvel=np.stack(qvel).astype(np.float32))
    return columns


def _part_path(parts: Path, index: int) -> Path:
    return parts / f"ep_{index:06d}.npz"


# What each part records about itself beside its columns: the task, its episode index and the SHA-256 of its
# columns (world_model.data.data_integrity.episode_digest), checked when the parts are merged.
PART_IDENTITY = ("part_env", "part_index", "part_sha256")


def _collect_part(job: tuple[CollectConfig, str, int]) -> int:
    from world_model.data.data_integrity import episode_digest

    cfg, parts, index = job
    episode = collect_episode(cfg, index)
    identity = {"part_env": np.array(cfg.env), "part_index": np.array(index),
                "part_sha256": np.array(episode_digest(episode))}
    atomic_write(_part_path(Path(parts), index), lambda tmp: np.savez(tmp, **episode, **identity))
    return index


def _check_output(out: Path) -> None:
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise CollectError(f"output folder does not exist: {parent} (create it first)")
    if not os.access(parent, os.W_OK):
        raise CollectError(f"output folder is not writable: {parent}")


def _prepare_parts(cfg: CollectConfig, parts: Path) -> list[int]:
    """Creates or checks the parts folder; returns the episode indices still to collect."""
    manifest = parts / "manifest.json"
    if parts.is_symlink():
        raise CollectError(f"{parts} is a symbolic link; the collection writes its parts only into a real folder "
                           f"(delete the link)")
    if parts.is_dir() and manifest.is_file():
        # Settings added since the manifest was written had their default value then.
        try:
            recorded = json.loads(manifest.read_text())
        except ValueError:
            raise CollectError(f"{manifest} is damaged; delete the folder {parts} to start the collection over") \
                from None
        previous = json.loads(json.dumps({**asdict(CollectConfig(cfg.env, cfg.episodes, cfg.steps)), **recorded}))
        if previous != json.loads(json.dumps(asdict(cfg))):  # compared as the manifest stores them
            raise CollectError(
                f"{parts} holds an unfinished collection with other settings ({previous}); "
                f"rerun with those settings to resume, or delete the folder to start over"
            )
    else:
        parts.mkdir(exist_ok=True)
        atomic_write_text(manifest, json.dumps(asdict(cfg)))
    remove_stale_temps(parts)  # what writers killed outright left
    for stale in parts.glob("ep_*.tmp.npz"):  # the fixed temporary names of earlier versions
        stale.unlink()
    for i in range(cfg.episodes):
        part = _part_path(parts, i)
        if part.is_file() and not _part_is_readable(part):
            _drop_damaged(part)
    return [i for i in range(cfg.episodes) if not _part_path(parts, i).is_file()]


PART_COLUMNS = ("pixels", "action")  # and qpos, qvel where the env has a physical state


def _part_is_readable(part: Path) -> bool:
    """A cheap check that a part is a complete ``.npz`` with every column (its zip directory, not the data)."""
    import zipfile

    try:
        with zipfile.ZipFile(part) as z:
            return {f"{c}.npy" for c in PART_COLUMNS} <= set(z.namelist())
    except (zipfile.BadZipFile, OSError, EOFError):
        return False


def _drop_damaged(part: Path, reason: str = "is damaged") -> None:
    """Deletes a damaged part (it is collected again: each episode is fixed by the seed and its index)."""
    tqdm.write(f"lewm-collect: {part} {reason}; collecting that episode again")
    part.unlink()


def _load_part(cfg: CollectConfig, parts: Path, index: int) -> dict[str, np.ndarray]:
    """One episode's columns from its part; a part whose data turn out damaged is collected again."""
    import zipfile

    try:
        return read_part(parts, index, cfg.env)
    except PartMismatch as exc:
        _drop_damaged(_part_path(parts, index), f"is not this collection's episode {index} ({exc})")
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        _drop_damaged(_part_path(parts, index))
    _collect_part((cfg, str(parts), index))
    return read_part(parts, index, cfg.env)


class PartMismatch(ValueError):
    """A collection part that is not the episode its name says: another task's, another index, or changed."""


def read_part(parts: Path, index: int, env: str | None = None) -> dict[str, np.ndarray]:
    """One finished episode's columns (``pixels`` (T+1, H, W, 3) uint8, ``action``, ``qpos``, ...) from its part.

    The identity the collector wrote into the part is checked: the task ``env`` (when given), the episode
    ``index`` and the checksum of its columns (PartMismatch naming what differs); parts written before identities
    were recorded load as they are.
    """
    from world_model.data.data_integrity import episode_digest

    with np.load(_part_path(parts, index)) as data:
        columns = {k: data[k] for k in data.files if k not in PART_IDENTITY}
        identity = {k: data[k] for k in PART_IDENTITY if k in data.files}
    if identity:
        if env is not None and str(identity.get("part_env", env)) != env:
            raise PartMismatch(f"it is an episode of task {str(identity['part_env'])!r}, not {env!r}")
        if int(identity.get("part_index", index)) != index:
            raise PartMismatch(f"it is episode {int(identity['part_index'])}, not {index}")
        if "part_sha256" in identity and str(identity["part_sha256"]) != episode_digest(columns):
            raise PartMismatch("its columns do not match the checksum written with them")
    return columns


def dataset_attrs(cfg: CollectConfig) -> dict:
    """The attributes a collection's HDF5 file records: its settings, the env's facts, the renderer, the date."""
    return {**asdict(cfg), "angle_qpos": None, **_env_facts(cfg), "mujoco_gl": os.environ.get("MUJOCO_GL", ""),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S")}


def collect(cfg: CollectConfig, out: str | os.PathLike, workers: int = 2, progress: bool = True) -> dict:
    """Collects ``cfg.episodes`` episodes into ``out`` (HDF5), resuming an interrupted run.

    Returns a summary: episodes, frames (as recorded), seconds spent collecting in this call and
    ``collected_now`` (the episodes this call collected: fewer than ``episodes`` when it resumed), frames per
    second, the shortest and longest episode (frames) and how many episodes the env ended before ``cfg.steps``.
    """
    import envs
    from envs.policies import check_policy
    from world_model.data.dataset import write_episodes

    cfg = replace(cfg, env=envs.task_spec(cfg.env).name)  # a gymnasium id works too; datasets record the name
    check_policy(cfg.policy, cfg.env)  # an unknown policy, or one for another task, fails before any work
    out = Path(out)
    _check_output(out)
    if out.exists():
        raise CollectError(f"{out} already exists; choose another --out or delete it")
    _worker_env(cfg)  # a user's env that cannot be built (kwargs, no pixels, no Box actions) fails before any work
    parts = out.with_name(out.name + ".parts")
    todo = _prepare_parts(cfg, parts)
    start = time.perf_counter()
    jobs = [(cfg, str(parts), i) for i in todo]
    bar = tqdm(total=cfg.episodes, initial=cfg.episodes - len(todo), unit="ep", desc=f"collect {cfg.env}",
               disable=not progress)
    try:
        if workers <= 1:
            for job in jobs:
                _collect_part(job)
                bar.update()
        elif jobs:
            with mp.get_context("spawn").Pool(min(workers, len(jobs))) as pool:
                for _ in pool.imap_unordered(_collect_part, jobs):
                    bar.update()
    finally:
        bar.close()
    seconds = time.perf_counter() - start
    episodes = [_load_part(cfg, parts, i) for i in range(cfg.episodes)]
    try:
        write_episodes(out, episodes, attrs=dataset_attrs(cfg))
    except DiskFullError as exc:
        raise DiskFullError(exc.errno, f"{exc.strerror}; the {cfg.episodes} collected episodes are kept in {parts}: "
                                       f"rerun the same command to merge them") from None
    shutil.rmtree(parts)
    lengths = [len(ep["pixels"]) for ep in episodes]  # as recorded: an episode the env ended early is shorter
    frames = sum(lengths[i] for i in todo)
    return {"episodes": cfg.episodes, "frames": sum(lengths), "seconds": seconds, "collected_now": len(todo),
            "shortest_episode": min(lengths), "longest_episode": max(lengths),
            "ended_early": sum(n < cfg.steps + 1 for n in lengths),
            "frames_per_second": frames / seconds if seconds > 0 and frames else float("nan")}
