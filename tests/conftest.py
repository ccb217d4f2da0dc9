"""Shared test set-up: headless rendering, small sizes, a tiny collected dataset."""

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(2)

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                                 reason="CUDA not available"))]


@pytest.fixture(scope="session")
def tiny_reacher_h5(tmp_path_factory):
    """A real reacher dataset collected by our own collector: 4 episodes x 30 steps at 32 px."""
    from agent.collect import CollectConfig, collect

    out = tmp_path_factory.mktemp("data") / "reacher_tiny.h5"
    collect(CollectConfig(env="reacher", episodes=4, steps=30, image_size=32, seed=0), out, workers=1,
            progress=False)
    return out
