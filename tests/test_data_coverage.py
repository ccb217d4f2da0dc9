"""experiments/tworoom/data_coverage.py counts room changes and floor coverage of a two-room dataset correctly."""
from pathlib import Path

import h5py
import numpy as np

from experiment_scripts import load_script as _load


def load_script():
    return _load("data_coverage")


def write_dataset(path: Path, episodes: list[np.ndarray]) -> None:
    qpos = np.concatenate(episodes)
    with h5py.File(path, "w") as f:
        f["qpos"] = qpos
        f["ep_len"] = np.array([len(e) for e in episodes])
        f["ep_offset"] = np.cumsum([0] + [len(e) for e in episodes[:-1]])


def test_counts_crossings_rooms_and_cells(tmp_path):
    through_door = np.stack([np.linspace(-0.1, 0.1, 10), np.full(10, 0.18)], 1)  # left -> right once
    and_back = np.concatenate([through_door, through_door[::-1]])                   # two changes
    stays_right = np.tile([[0.1, -0.1]], (10, 1))
    path = tmp_path / "rooms.h5"
    write_dataset(path, [through_door, and_back, stays_right])
    c = load_script().coverage(path)
    assert c["episodes"] == 3 and c["frames"] == 40
    assert c["episodes_in_both_rooms"] == 2
    assert c["crossings_per_100_episodes"] == 100 * 3 / 3
    assert c["left_room_frames"] == (5 + 10) / 40
    assert 0 < c["free_cells_visited"] < 0.1  # a line and a point cover a small part of the floor
