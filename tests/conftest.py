"""Shared test set-up: headless rendering, small sizes, a tiny collected dataset."""

import os

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads: spinning threads starve subprocesses

import pytest  # noqa: E402
import torch  # noqa: E402

# Alone, two torch threads; under pytest-xdist (make test: one worker per core) one each, so the workers do not
# fight over the cores. Tests that need a count set it themselves.
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else 2)

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


@pytest.fixture(scope="session")
def tiny_tworoom_h5(tmp_path_factory):
    """A real two-room dataset (held-random policy): 4 episodes x 30 steps at 32 px."""
    from agent.collect import CollectConfig, collect

    out = tmp_path_factory.mktemp("data") / "tworoom_tiny.h5"
    collect(CollectConfig(env="tworoom", episodes=4, steps=30, image_size=32, seed=0), out, workers=1,
            progress=False)
    return out


def tiny_config(**changes):
    """A LeWM small enough to run a plan in milliseconds: 32 px, one predictor block, width 32."""
    from world_model import LeWMConfig

    base = dict(image_size=32, cnn_channels=[8, 16, 32], embed_dim=32, proj_hidden=64, pred_depth=1, pred_heads=2,
                pred_dim_head=16, pred_mlp_dim=64, pred_dropout=0.0, action_mean=[0.0, 0.0], action_std=[0.6, 0.6],
                task="reacher", sigreg_projections=64, batch_size=8)
    base.update(changes)
    return LeWMConfig.preset("cpu").replace(**base)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """An untrained tiny reacher checkpoint folder (config.yaml + model.safetensors)."""
    from world_model import LeWM

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("ckpt") / "tiny_reacher"
    LeWM(tiny_config()).save(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_tworoom_checkpoint(tmp_path_factory):
    """An untrained tiny two-room checkpoint folder (positions, no angles)."""
    from world_model import LeWM

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("ckpt") / "tiny_tworoom"
    LeWM(tiny_config(task="tworoom", angle_qpos=[])).save(folder)
    return folder


def model_sha(folder) -> str:
    """The weights digest a checkpoint folder's config.yaml records: what a companion file built for it records as
    ``model_sha256`` (``ProposalPolicy(...).save(folder, model_sha256=model_sha(folder))``)."""
    from pathlib import Path

    from world_model import LeWMConfig

    return LeWMConfig.from_yaml(Path(folder) / "config.yaml").weights_sha256


def restamp(path) -> None:
    """Rewrites a dataset's per-episode checksums after a test changed its data on purpose (a valid file with other
    contents), as the collector would have written them."""
    import h5py
    import numpy as np

    from world_model.data.data_integrity import EPISODE_SHA, episode_digest, frame_columns

    with h5py.File(path, "r+") as f:
        names = frame_columns(f)
        digests = [episode_digest({k: f[k][off:off + n] for k in names})
                   for off, n in zip(f["ep_offset"][:], f["ep_len"][:])]
        if EPISODE_SHA in f:
            del f[EPISODE_SHA]
        f.create_dataset(EPISODE_SHA, data=np.array(digests, dtype="S64"))


def installed_command(name: str) -> str:
    """Path of an installed console script: the one beside this interpreter first (``make test`` runs
    ``.venv/bin/pytest`` without activating the venv), then PATH. Missing is a failure, not a skip."""
    import shutil
    import sys
    from pathlib import Path

    found = shutil.which(name, path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    assert found, f"{name} is not installed: run `pip install -e .` (make setup) first"
    return found


def record_policy(env, policy, seed: int, steps: int):
    """Runs ``policy(obs, info)`` in ``env`` from ``reset(seed)``; returns frames (T+1, H, W, 3), states (qpos then
    qvel, (T+1, nq + nv)) and actions (T, A)."""
    import numpy as np

    obs, info = env.reset(seed=seed)
    frames, states, actions = [obs], [np.concatenate([info["qpos"], info["qvel"]])], []
    for _ in range(steps):
        action = policy(obs, info)
        obs, _, _, _, info = env.step(action)
        frames.append(obs)
        states.append(np.concatenate([info["qpos"], info["qvel"]]))
        actions.append(action)
    return np.stack(frames), np.stack(states), np.stack(actions)


def assert_clean_cli_errors(cmd: list, cases) -> None:
    """For each (option change, message) of ``cases``, runs ``cmd`` (an installed command and its arguments) with
    that option's value replaced and expects exit 2 and one line of stderr holding ``message``. The command's
    ``main`` runs in this process (no interpreter start-up per case; the caller has run the installed command)."""
    from pathlib import Path

    from cli_faults import run_in_process

    for change, message in cases:
        args = list(cmd)
        i = args.index(change[0])
        args[i + 1] = change[1]
        bad = run_in_process(Path(args[0]).name, *args[1:])
        assert bad.returncode == 2 and message in bad.stderr and bad.stderr.count("\n") == 1, bad.stderr
