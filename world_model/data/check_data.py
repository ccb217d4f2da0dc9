"""``lewm-check-data``: verify trajectory datasets before training on them.

    lewm-check-data data/reacher.h5 [more.h5 ...]

Reads each file one episode at a time and checks what every reader checks (``world_model.data.data_integrity``): the
layout, each episode against the checksum its collector wrote, and the values (no NaN or infinite action or state
except the NaN action of an episode's last frame, no action far outside the recorded box). Prints one line per
good file; the first problem is one ``lewm-check-data: error:`` line naming the file, episode and step (exit 2).
"""
from __future__ import annotations

import argparse
import sys

from common.cli_errors import run_cli


def build_parser() -> argparse.ArgumentParser:
    from common.cli_help import essentials, help_style

    p = argparse.ArgumentParser(**help_style("lewm-check-data", __doc__))
    essentials(p).add_argument("files", nargs="+", metavar="FILE", help="HDF5 datasets (lewm-collect's layout)")
    p.add_argument_group("output").add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p


def _main(argv) -> int:
    from world_model.data.data_integrity import check_file

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
