"""Bad input through the Python API ends in one clear error of ours, never an internal TypeError or
RecursionError: wrong setting types, object arrays as images, a distance asked before a goal, bounded file
metadata (proposal ``dims``, goal-pose text), a dataset the user may not read."""

import builtins
import json

import numpy as np
import pytest

from common.cli_errors import UserInputError


@pytest.fixture(scope="module")
def agent(tiny_checkpoint):
    from agent import Agent

    return Agent.from_pretrained(str(tiny_checkpoint), device="cpu", num_samples=8, n_iters=1, horizon=2)


SETTINGS = [
    ("num-samples-text", {"num_samples": "64"}, "num_samples must be an integer"),
    ("horizon-float", {"horizon": 2.5}, "horizon must be an integer"),
    ("seed-bool", {"seed": True}, "seed must be an integer"),
    ("init-std-text", {"init_std": "1"}, "init_std must be a number"),
    ("receding-horizon-text", {"receding_horizon": "1"}, "receding_horizon must be an integer"),
]


@pytest.mark.parametrize("settings,words", [c[1:] for c in SETTINGS], ids=[c[0] for c in SETTINGS])
def test_settings_of_the_wrong_type_are_one_error(settings, words, tiny_checkpoint):
    from agent import Agent

    with pytest.raises(UserInputError, match=words):
        Agent.from_pretrained(str(tiny_checkpoint), device="cpu", **settings)


def test_an_object_array_goal_is_a_clear_error(agent):
    goal = np.empty((32, 32, 3), dtype=object)  # e.g. a frame list that numpy could not stack; None compares with
    goal[:] = None                              # nothing: the min/max range check was a TypeError
    with pytest.raises(ValueError, match="dtype object"):
        agent.set_goal(goal)


def test_latent_distance_before_set_goal_is_a_clear_error(tiny_checkpoint):
    from agent import Agent

    fresh = Agent.from_pretrained(str(tiny_checkpoint), device="cpu", num_samples=8, n_iters=1, horizon=2)
    with pytest.raises(RuntimeError, match="set_goal"):
        fresh.latent_distance(np.zeros((32, 32, 3), np.uint8))


def test_deeply_nested_pose_text_is_no_pose(tmp_path):
    """10,000 nested brackets (short enough to be read) parse as no pose, not a RecursionError."""
    from PIL import Image, PngImagePlugin

    from agent.goal_files import POSE_KEY, read_goal_pose

    meta = PngImagePlugin.PngInfo()
    meta.add_text(POSE_KEY, "[" * 10_000)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "g.png", pnginfo=meta)
    assert read_goal_pose(tmp_path / "g.png") is None


def test_an_image_beyond_the_pixel_limit_is_refused_before_decoding(tmp_path):
    from test_cli_faults import png_header_only

    from agent.images import to_rgb_frames

    (tmp_path / "huge.png").write_bytes(png_header_only(20000, 1000))  # 20 M pixels, Pillow's own limit is 89 M
    with pytest.raises(UserInputError, match="20000 x 1000"):
        to_rgb_frames(str(tmp_path / "huge.png"), 32)


@pytest.mark.parametrize("dims,words", [
    ({"depth": 100000}, "depth: 100000"),
    ({"hidden": -1}, "hidden: -1"),
    ({"horizon": [5]}, "flat object"),
])
def test_proposal_dims_are_bounded_before_allocation(dims, words, tmp_path):
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from world_model.policies.proposal import ProposalPolicy

    path = ProposalPolicy(16, 10, 5, hidden=32, depth=1).save(tmp_path)
    with safe_open(str(path), framework="pt") as f:
        meta = dict(f.metadata())
    meta["dims"] = json.dumps({**json.loads(meta["dims"]), **dims})
    save_file(load_file(str(path)), str(path), metadata=meta)
    with pytest.raises(UserInputError, match=words):
        ProposalPolicy.load(path)


def test_long_dims_text_is_refused_before_parsing(tmp_path):
    from safetensors.torch import load_file, save_file

    from world_model.policies.proposal import ProposalPolicy

    path = ProposalPolicy(16, 10, 5, hidden=32, depth=1).save(tmp_path)
    save_file(load_file(str(path)), str(path), metadata={"dims": "[" * 1_000_000})
    with pytest.raises(UserInputError, match="1000000 characters"):
        ProposalPolicy.load(path)


@pytest.mark.slow
def test_a_dataset_we_may_not_read_is_not_called_damaged(tiny_reacher_h5, monkeypatch):
    """As root every file is readable, so the permission error is simulated where the file is opened."""
    from world_model.data.dataset import open_dataset

    real_open = builtins.open

    def denied(file, *args, **kwargs):
        if str(file) == str(tiny_reacher_h5):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", denied)
    with pytest.raises(UserInputError) as caught:
        with open_dataset(tiny_reacher_h5):
            pass
    assert "permission denied" in str(caught.value) and "re-collect" not in str(caught.value)
