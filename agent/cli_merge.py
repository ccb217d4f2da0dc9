"""``lewm-merge``: split a ``lewm-collect`` run, finished or not, into a training file and a held-out file.

    lewm-merge data/cube.h5.parts --episodes 150 --heldout 20 --train data/train.h5 --heldout-out data/heldout.h5
    lewm-merge data/cube.h5 --heldout 20 --train data/train.h5 --heldout-out data/heldout.h5

The source is either a finished collection (``data/x.h5``) or the ``<out>.parts/`` folder that a collection cut
short for time leaves. This writes the first ``--episodes`` episodes (in episode order; all of a finished file by
default) as two HDF5 files, the last ``--heldout`` of them held out, with the collection's settings as attributes
(``episodes`` set to each file's count; ``merged_from``: the source, its task and which of its episodes). A
finished source is checked first (``lewm-check-data``). The source is left as it is, so an unfinished collection
can still be resumed.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from common.cli_errors import UserInputError, run_cli

PROG = "lewm-merge"


def build_parser() -> argparse.ArgumentParser:
    from common.cli_help import essentials, help_style

    p = argparse.ArgumentParser(**help_style(PROG, __doc__))
    first = essentials(p)
    first.add_argument("source", help="a finished collection (.h5) or the <out>.parts folder of an unfinished one")
    first.add_argument("--train", required=True, metavar="FILE", help="training HDF5 file to write")
    first.add_argument("--episodes", type=int, metavar="N", help="episodes to use (0 .. N-1; needed for a parts "
                       "folder)")
    held = p.add_argument_group("held-out episodes")
    held.add_argument("--heldout", type=int, default=0, metavar="N",
                      help="how many of them (the last) go to the held-out file")
    held.add_argument("--heldout-out", metavar="FILE", help="held-out HDF5 file to write (with --heldout)")
    p.add_argument_group("output").add_argument("--no-progress", action="store_true", help="hide the progress bars")
    return p


def _main(argv) -> int:
    args = build_parser().parse_args(argv)

    from world_model.data.dataset import write_episodes

    if args.heldout and not args.heldout_out:
        raise UserInputError("--heldout needs --heldout-out")
    source = Path(args.source)
    progress = not args.no_progress
    if not source.exists():
        raise UserInputError(f"{source}: no such collection (a .h5 file or a .parts folder)")
    if source.is_dir():
        episodes, attrs = _read_parts(source, args.episodes, progress)
    else:
        episodes, attrs = _read_finished(source, args.episodes, progress)
    if not 0 <= args.heldout < len(episodes):
        raise UserInputError(f"--heldout {args.heldout} leaves no training episodes out of {len(episodes)}")
    n_train = len(episodes) - args.heldout
    write_episodes(args.train, episodes[:n_train], attrs={**attrs, "episodes": n_train,
                                                          "merged_from": _identity(source, attrs, 0, n_train)})
    if args.heldout:
        write_episodes(args.heldout_out, episodes[n_train:], attrs={
            **attrs, "episodes": args.heldout, "first_episode": n_train,
            "merged_from": _identity(source, attrs, n_train, args.heldout)})
    print(f"wrote {args.train} ({n_train} episodes)" + (f" and {args.heldout_out} ({args.heldout})"
                                                       if args.heldout else ""))
    return 0


def _identity(source: Path, attrs: dict, first: int, count: int) -> str:
    """What a written file was taken from (JSON, the ``merged_from`` attribute): the source, its task, when it was
    collected, and which of its episodes."""
    return json.dumps({"source": str(source.resolve()), "env": str(attrs.get("env", "")),
                       "created": str(attrs.get("created", "")), "first_episode": int(first), "episodes": int(count)})


def _read_parts(parts: Path, count: int | None, progress: bool = False) -> tuple[list[dict], dict]:
    """The first ``count`` finished episodes of an unfinished collection, and its settings as attributes."""
    from tqdm import tqdm

    from agent.collect import CollectConfig, _part_path, dataset_attrs, read_part

    if count is None:
        raise UserInputError("a parts folder needs --episodes")
    manifest = json.loads((parts / "manifest.json").read_text())
    manifest["angle_qpos"] = tuple(manifest.get("angle_qpos") or ())
    cfg = CollectConfig(**manifest)
    missing = [i for i in range(count) if not _part_path(parts, i).is_file()]
    if missing:
        raise UserInputError(f"episodes {missing[:5]}... are not finished yet")
    try:  # each part must be this collection's task and episode, unchanged since it was written
        return [read_part(parts, i, cfg.env) for i in tqdm(range(count), desc=f"read {parts.name}", unit="ep",
                                                           disable=not progress)], dataset_attrs(cfg)
    except ValueError as exc:
        raise UserInputError(f"{parts}: a part is not this collection's ({exc})") from None


def _read_finished(path: Path, count: int | None, progress: bool = False) -> tuple[list[dict], dict]:
    """The first ``count`` (default all) episodes of a finished collection, and its attributes; the file is
    checked first (per-episode checksums and values: ``world_model.data.data_integrity``)."""
    from tqdm import tqdm

    from world_model.data.check_data import check_file
    from world_model.data.data_integrity import INDEX_COLUMNS
    from world_model.data.dataset import open_dataset

    check_file(path, progress=progress)
    with open_dataset(path) as f:
        offsets, lengths = f["ep_offset"][:], f["ep_len"][:]
        count = len(lengths) if count is None else count
        if count > len(lengths):
            raise UserInputError(f"{path} holds {len(lengths)} episodes, not {count}")
        columns = [k for k in f if k not in INDEX_COLUMNS]
        episodes = [{k: f[k][offsets[i]: offsets[i] + lengths[i]] for k in columns}
                    for i in tqdm(range(count), desc=f"read {path.name}", unit="ep", disable=not progress)]
        attrs = dict(f.attrs)
    return episodes, attrs


def main(argv=None) -> int:
    """Console entry point ``lewm-merge``; returns the exit status."""
    return run_cli(PROG, _main, argv)


if __name__ == "__main__":
    sys.exit(main())
