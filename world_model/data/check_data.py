"""``lewm-check-data``: verify trajectory datasets before training on them.

    lewm-check-data data/reacher.h5 [more.h5 ...]

Reads each file one episode at a time and checks what every reader checks (``world_model.data.data_integrity``): the
layout, each episode against the checksum its collector wrote, and the values (no NaN or infinite action or state
except the NaN action of an episode's last frame, no action far outside the recorded box). Prints one line per
good file; the first problem is one ``lewm-check-data: error:`` line naming the file, episode and step (exit 2).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

from common.cli_errors import UserInputError, run_cli
from world_model.data.data_integrity import EPISODE_SHA, RECOLLECT, check_values, episode_digest, frame_columns
from world_model.data.data_integrity import read_episode

log = logging.getLogger("world_model.data")


def build_parser() -> argparse.ArgumentParser:
    from common.cli_help import essentials, help_style

    p = argparse.ArgumentParser(**help_style("lewm-check-data", __doc__))
    essentials(p).add_argument("files", nargs="+", metavar="FILE", help="HDF5 datasets (lewm-collect's layout)")
    p.add_argument_group("output").add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p


def check_file(path, progress: bool = False) -> dict:
    """Reads a dataset one episode at a time and runs every check (layout, per-episode checksums, values); returns
    a summary: episodes, frames, verified (whether there were checksums to check), env (the task it was collected
    on).

    Raises:
        UserInputError / FileNotFoundError: as :func:`world_model.data.dataset.open_dataset`, and for each check above,
        naming the episode (and step) at fault.
    """
    from tqdm import tqdm

    from world_model.data.dataset import REQUIRED_COLUMNS, _check_layout, open_dataset  # torch: not for --help

    path = Path(path)
    with open_dataset(path, REQUIRED_COLUMNS) as f:
        ep_len, ep_offset = f["ep_len"][:].astype(np.int64), f["ep_offset"][:].astype(np.int64)
        _check_layout(path, f["pixels"], f["action"], ep_len, ep_offset)
        names = frame_columns(f)
        recorded = f[EPISODE_SHA][:] if EPISODE_SHA in f else None
        if recorded is None:
            log.warning("%s records no per-episode checksums (not written by lewm-collect): its data cannot be "
                        "verified", path)
        elif len(recorded) != len(ep_len):
            raise UserInputError(f"dataset {path}: {EPISODE_SHA} has {len(recorded)} entries for {len(ep_len)} "
                                 f"episodes; {RECOLLECT}")
        attrs = dict(f.attrs)
        for e in tqdm(range(len(ep_len)), desc=f"check {path.name}", unit="ep", disable=not progress):
            off, n = int(ep_offset[e]), int(ep_len[e])
            cols = {k: read_episode(f, k, path, e, off, n) for k in names}
            if recorded is not None and episode_digest(cols).encode() != bytes(recorded[e]):
                raise UserInputError(f"dataset {path}: episode {e} (rows {off}-{off + n - 1}) does not match the "
                                     f"checksum its collector wrote ({', '.join(sorted(cols))}): the file was changed "
                                     f"or damaged; {RECOLLECT}")
            states = {k: v for k, v in cols.items() if k not in ("pixels", "action")}
            check_values(path, cols["action"], states, np.array([0]), np.array([n]), attrs.get("action_low"),
                         attrs.get("action_high"), first_episode=e)
    return {"episodes": int(len(ep_len)), "frames": int(ep_len.sum()), "verified": recorded is not None,
            "env": str(attrs.get("env", ""))}


def _main(argv) -> int:
    args = build_parser().parse_args(argv)
    for path in args.files:
        summary = check_file(path, progress=not args.no_progress)
        verified = ("every episode matches its checksum" if summary["verified"]
                    else "no checksums recorded (not written by lewm-collect): values checked only")
        print(f"{path}: {summary['episodes']} episodes, {summary['frames']} frames, task "
              f"{summary['env'] or 'unknown'}; {verified}")
    return 0


def main(argv=None) -> int:
    """Console entry point ``lewm-check-data``; returns the exit status."""
    return run_cli("lewm-check-data", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
