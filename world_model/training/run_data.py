"""The data side of ``lewm-train``: load and split the dataset into the config, and, on ``--resume``, make sure the
run continues on the data it was trained on (or, when the user allows other data, keeps its action normalisation).
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from common.cli_errors import UserInputError
from world_model.model.config import LeWMConfig

log = logging.getLogger("world_model.training.train")
FINGERPRINT_FIELDS = ("frames", "episodes", "digest", "attrs")  # what must agree; the path may move


def load_data(cfg: LeWMConfig, data_path: str):
    """Loads the dataset, splits it by episode and writes the data facts into the config."""
    from world_model.data.dataset import TrajectoryDataset

    if not data_path:
        raise UserInputError("no dataset given: pass --data FILE or set data_path in the config")
    ds = TrajectoryDataset(data_path, num_steps=cfg.num_steps, frameskip=cfg.frameskip)
    if ds.image_size != cfg.image_size:
        raise ValueError(f"the config expects {cfg.image_size} px images but {data_path} has {ds.image_size} px; "
                         f"set image_size: {ds.image_size} or use data of the right size")
    train_ds, val_ds = ds.split(val_fraction=cfg.val_fraction, seed=cfg.split_seed)
    if len(train_ds) < cfg.batch_size:
        raise ValueError(_too_few_windows(cfg, data_path, len(train_ds), ds.ep_len))
    data_task = str(ds.attrs.get("env", ""))
    if cfg.task and data_task and task_key(cfg.task) != task_key(data_task):
        raise ValueError(f"the config is for task {cfg.task!r} but {data_path} was collected on {data_task!r}")
    cfg = cfg.replace(data_path=str(data_path), action_dim=ds.action_dim,
                      action_mean=[float(v) for v in train_ds.action_mean],
                      action_std=[float(v) for v in train_ds.action_std],
                      task=cfg.task or task_key(data_task), angle_qpos=_angle_qpos(cfg, ds.attrs, data_path),
                      **env_facts(ds.attrs))
    if cfg.state_lambda > 0:
        cfg = cfg.replace(**_state_facts(cfg, train_ds, data_path))
    return cfg, train_ds, val_ds


def _too_few_windows(cfg: LeWMConfig, data_path, windows: int, ep_len: np.ndarray) -> str:
    """Why there are fewer training windows than a batch, and what to change: episodes shorter than one window
    (``num_steps * frameskip`` frames: an env that ends its episodes early) or too few episodes."""
    span = cfg.num_steps * cfg.frameskip
    short = int(np.sum(ep_len < span))
    text = f"{data_path} has {windows} training windows, fewer than batch_size {cfg.batch_size}"
    if short:
        return (f"{text}: {short} of its {len(ep_len)} episodes are shorter than one training window ({span} frames: "
                f"num_steps {cfg.num_steps} x frameskip {cfg.frameskip}; its longest episode has {int(ep_len.max())} "
                f"frames); collect longer episodes (an env that ends them early, e.g. when the robot falls, needs a "
                f"gentler --action-scale), or lower frameskip or history_size in the config")
    return f"{text}; lower batch_size or collect more episodes"


def _state_facts(cfg: LeWMConfig, train_ds, data_path) -> dict:
    """The state readout's target statistics over the training episodes (``state_lambda > 0`` needs ``qpos``)."""
    from world_model.model.state_head import state_statistics

    if "qpos" not in train_ds.state_columns:
        raise UserInputError(f"state_lambda > 0 reads each frame's state, but {data_path} has no 'qpos' column; "
                             f"set state_lambda: 0 or collect with lewm-collect (it records qpos)")
    mean, std = state_statistics(train_ds.column("qpos"), cfg.angle_qpos)
    return {"state_mean": mean, "state_std": std}


def env_facts(attrs: dict) -> dict:
    """What a dataset records about its env, as config fields: the look of its images (``look``), and for a user's
    gymnasium env its gym.make kwargs and action box (none of these for data collected before they were recorded).
    A dataset's ``env_import`` attribute is never copied: a module to import is named by the user
    (``lewm-train --import MODULE``), never by a file."""
    import json

    facts = {}
    if str(attrs.get("env_kwargs", "")):
        facts["env_kwargs"] = json.loads(str(attrs["env_kwargs"]))
    if str(attrs.get("look", "")):
        facts["look"] = str(attrs["look"])[:100]
    for key in ("action_low", "action_high"):
        if key in attrs:
            facts[key] = [float(v) for v in np.asarray(attrs[key]).reshape(-1)]
    return facts


def task_key(name: str) -> str:
    """A task's name from either spelling: ``reacher`` or our gymnasium id ``lewm/Reacher-v0``; any other
    gymnasium id (a user's env, ``Reacher-v5``) is its own name, unchanged."""
    if name.startswith("lewm/"):
        return re.sub(r"-v\d+$", "", name.rsplit("/", 1)[-1]).lower()
    return name if re.search(r"-v\d+$", name) else name.lower()


def _angle_qpos(cfg: LeWMConfig, attrs: dict, data_path) -> list | None:
    """Which qpos entries are angles: the dataset's declaration (written by lewm-collect from the env), else the
    config's; a config that contradicts the dataset is an error. None (neither says) means all of them."""
    from world_model.data.dataset import dataset_angle_qpos

    declared = dataset_angle_qpos(attrs)
    if declared is None:
        if cfg.angle_qpos is None:
            log.warning("%s does not say which qpos entries are angles (no angle_qpos attribute) and neither does "
                        "the config: the linear probe treats all of them as angles", data_path)
        return cfg.angle_qpos
    if cfg.angle_qpos is not None and sorted(cfg.angle_qpos) != sorted(declared):
        raise ValueError(f"the config sets angle_qpos {cfg.angle_qpos} but {data_path} declares {declared}; "
                         f"remove angle_qpos from the config or use data of the right task")
    return declared


def _facts(fp: dict) -> dict:
    """The comparable facts of a data fingerprint, by name."""
    return {"episodes": fp["episodes"], "frames": fp["frames"], **fp.get("attrs", {})}


def _differences(old: dict, new: dict) -> tuple[str, str]:
    """What differs between two fingerprints, as two short descriptions (old, new)."""
    a, b = _facts(old), _facts(new)
    keys = [k for k in dict.fromkeys([*a, *b]) if a.get(k) != b.get(k)]
    if not keys:
        return "same size and metadata", "other actions"
    return tuple(", ".join(f"{k} {d.get(k, '-')}" for k in keys) for d in (a, b))


def check_resume_data(saved: LeWMConfig, saved_fp: dict | None, new_fp: dict, allow_other: bool) -> None:
    """Refuses (UserInputError) a ``--resume`` on data other than the run's, unless ``allow_other``.

    The run's data is identified by the fingerprint recorded in its train state (its path may change); a state
    from before fingerprints were recorded is compared by the resolved ``data_path`` only.
    """
    new_path = Path(new_fp["path"])
    if saved_fp is not None:
        same = all(saved_fp.get(k) == new_fp.get(k) for k in FINGERPRINT_FIELDS)
        old_path = Path(saved_fp["path"])
        then, now = _differences(saved_fp, new_fp)
    else:
        old_path = Path(saved.data_path).resolve() if saved.data_path else None
        same, then, now = old_path == new_path, "no fingerprint recorded", "another path"
    if same:
        if old_path != new_path:
            log.info("--resume: %s holds the same data as %s, which this run was trained on", new_path, old_path)
        return
    if not allow_other:
        raise UserInputError(
            f"--resume: {new_path} is not the data this run was trained on ({old_path or 'unknown'}: {then}; given: "
            f"{now}); pass --allow-other-data to continue on it (the run keeps its action normalisation)")
    log.warning("--resume --allow-other-data: continuing on %s (%s), not the data this run was trained on (%s: %s)",
                new_path, now, old_path, then)


def keep_normalisation(cfg: LeWMConfig, saved: LeWMConfig, train_ds, val_ds, option: str = "--resume") -> LeWMConfig:
    """A resumed (or ``--init``) run keeps the saved action normalisation (the model was trained on it), whatever
    the data says.

    Sets it on both splits and returns ``cfg`` carrying it; a dataset with another action size is refused.
    """
    if cfg.action_dim != saved.action_dim:
        raise UserInputError(f"{option}: {cfg.data_path} has {cfg.action_dim}-dimensional actions but the model was "
                             f"trained on {saved.action_dim}; use data of the same action size")
    if saved.state_mean is not None:  # the readout was trained on these too
        cfg = cfg.replace(state_mean=list(saved.state_mean), state_std=list(saved.state_std))
    if saved.action_mean is None or saved.action_std is None:
        return cfg
    if (cfg.action_mean, cfg.action_std) != (saved.action_mean, saved.action_std):
        log.warning(option + ": keeping the model's action normalisation (mean %s, std %s), not %s's own",
                    np.round(saved.action_mean, 4).tolist(), np.round(saved.action_std, 4).tolist(), cfg.data_path)
    for ds in (train_ds, val_ds):
        ds.action_mean = np.asarray(saved.action_mean, np.float32)
        ds.action_std = np.asarray(saved.action_std, np.float32)
    return cfg.replace(action_mean=list(saved.action_mean), action_std=list(saved.action_std))
