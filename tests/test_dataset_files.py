"""Training on several dataset files at once (the shards of ``lewm-collect --plan``)."""

import os

import numpy as np
import pytest

from common.cli_errors import UserInputError
from world_model.data.dataset import TrajectoryDataset, write_episodes

from test_dataset import _synthetic_episode


@pytest.fixture
def two_shards(tmp_path):
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    write_episodes(a, [_synthetic_episode(30, 0), _synthetic_episode(25, 30)], attrs={"env": "test", "seed": 1})
    write_episodes(b, [_synthetic_episode(22, 55)], attrs={"env": "test", "seed": 2})
    return a, b


def test_files_read_back_to_back(two_shards):
    a, b = two_shards
    ds = TrajectoryDataset([a, b], num_steps=4, frameskip=5)
    np.testing.assert_array_equal(ds.ep_len, [30, 25, 22])
    np.testing.assert_array_equal(ds.ep_offset, [0, 30, 55])
    assert len(ds) == (30 - 19) + (25 - 19) + (22 - 19)
    first_of_b = ds[(30 - 19) + (25 - 19)]
    np.testing.assert_array_equal(first_of_b["pixels"][:, 0, 0, 0].numpy(), [55, 60, 65, 70])
    assert ds.attrs["seed"] == "1,2"


def test_joined_path_string_is_the_same_data(two_shards):
    a, b = two_shards
    listed = TrajectoryDataset([a, b])
    joined = TrajectoryDataset(os.pathsep.join(map(str, (a, b))))
    assert listed.fingerprint() == joined.fingerprint()
    assert listed.fingerprint()["digest"] != TrajectoryDataset(a).fingerprint()["digest"]
    np.testing.assert_allclose(listed.action_mean, joined.action_mean)


def test_files_of_other_tasks_are_refused(tmp_path):
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    write_episodes(a, [_synthetic_episode(30, 0)], attrs={"env": "reacher"})
    write_episodes(b, [_synthetic_episode(30, 0)], attrs={"env": "cube"})
    with pytest.raises(UserInputError, match="differ in task"):
        TrajectoryDataset([a, b])
