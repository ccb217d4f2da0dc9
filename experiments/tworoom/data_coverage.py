"""How diverse is a Two-Room dataset? Room changes, door crossings and spatial coverage per file.

    python experiments/tworoom/data_coverage.py data/tworoom.h5 data/tworoom_heldrandom.h5 \
        --out experiments/tworoom/tworoom_data_coverage.md

For each HDF5 dataset written by ``lewm-collect --env tworoom`` (reads only ``qpos``, ``ep_len``, ``ep_offset``):
episodes that visit both rooms, door crossings per 100 episodes, the share of frames in each room, and the
share of a 2 cm grid over the free floor that the agent centre visited (how much of the layout the model saw).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import h5py
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from envs.two_room import FREE_HALF_WIDTH, is_free, room_of  # noqa: E402

GRID_M = 0.02


def coverage(path: Path) -> dict:
    """Room and floor coverage of one dataset (see the module docstring)."""
    with h5py.File(path, "r") as f:
        qpos, ep_len, ep_offset = f["qpos"][:, :2].astype(np.float64), f["ep_len"][:], f["ep_offset"][:]
    rooms = room_of(qpos)
    crossings, both = 0, 0
    for off, n in zip(ep_offset, ep_len):
        r = rooms[off:off + n]
        changes = int(np.count_nonzero(np.diff(r)))
        crossings += changes
        both += changes > 0
    cells = {tuple(c) for c in np.floor(qpos / GRID_M).astype(int)}
    side = np.arange(-int(np.ceil(FREE_HALF_WIDTH / GRID_M)), int(np.ceil(FREE_HALF_WIDTH / GRID_M)))
    free = {(i, j) for i in side for j in side if is_free(np.array([(i + 0.5) * GRID_M, (j + 0.5) * GRID_M]))}
    return dict(file=str(path), episodes=len(ep_len), frames=int(len(qpos)),
                episodes_in_both_rooms=both, crossings_per_100_episodes=100 * crossings / len(ep_len),
                left_room_frames=float(np.mean(rooms == 0)), free_cells_visited=len(cells & free) / len(free))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("datasets", nargs="+", type=Path)
    p.add_argument("--out", type=Path, help="also write the table as Markdown here")
    args = p.parse_args()
    lines = ["| dataset | episodes | frames | episodes visiting both rooms | door crossings / 100 episodes | "
             "frames in the left room | free floor visited (2 cm cells) |", "|---|---|---|---|---|---|---|"]
    for path in args.datasets:
        c = coverage(path)
        lines.append(f"| `{path}` | {c['episodes']} | {c['frames']} | {c['episodes_in_both_rooms']} "
                     f"({c['episodes_in_both_rooms'] / c['episodes']:.0%}) | {c['crossings_per_100_episodes']:.0f} | "
                     f"{c['left_room_frames']:.0%} | {c['free_cells_visited']:.0%} |")
    table = "\n".join(lines)
    print(table)
    if args.out:
        command = "python experiments/" + " ".join([Path(sys.argv[0]).name] + sys.argv[1:])
        args.out.write_text(f"# Two-Room data coverage\n\nCommand: `{command}`\n\n{table}\n")


if __name__ == "__main__":
    main()
