"""The state probe: an MLP fitted on frozen embeddings to the state head's targets, saved beside the checkpoint,
loaded by the agent and read by the readout costs."""
import subprocess

import h5py
import numpy as np
import pytest
import torch

from agent.latent_cost import goal_distance, readout_map
from conftest import installed_command, tiny_config
from world_model.policies.state_probe import StateProbe
from world_model.policies.train_state_probe import train_probe


def test_the_probe_learns_what_a_linear_readout_cannot():
    # Targets a nonlinear function of the embedding: the probe reads held-out episodes' frames far better.
    g = torch.Generator().manual_seed(0)
    z = torch.randn(3000, 8, generator=g)
    targets = torch.stack([z[:, 0] * z[:, 1], z[:, 2].abs()], 1)
    episodes = np.repeat(np.arange(30), 100)
    probe, metrics = train_probe(z, targets, episodes, torch.ones(2), steps=600, hidden=64, progress=False)
    assert metrics["before"]["explained"] < 0.2 < 0.8 < metrics["after"]["explained"]
    assert metrics["val_episodes"] == 3 and metrics["val_frames"] == 300
    linear = torch.linalg.lstsq(torch.cat([z, torch.ones(len(z), 1)], 1), targets).solution
    linear_mse = (torch.cat([z, torch.ones(len(z), 1)], 1) @ linear - targets).pow(2).mean()
    with torch.no_grad():
        assert (probe(z) - targets).pow(2).mean() < linear_mse / 4


class _Model:
    def __init__(self):
        from world_model.model.state_head import StateHead

        self.state_head = StateHead(4, [0.0] * 3, [1.0] * 3, angle_qpos=[])


def test_the_readout_costs_read_through_the_probe_and_count_what_success_reads(tmp_path):
    probe = StateProbe(4, 3, hidden=8, depth=1)
    probe.save(tmp_path, info={"note": "x"})
    loaded = StateProbe.load(tmp_path)
    z = torch.randn(1, 2, 3, 4)
    with torch.no_grad():
        torch.testing.assert_close(readout_map(_Model(), None, loaded)(z), probe(z))
        torch.testing.assert_close(readout_map(_Model(), (2,), loaded)(z), probe(z)[..., 2:])
        goal = torch.zeros(1, 4)
        expected = (probe(z)[..., 1:] - probe(goal)[:, None, None, 1:]).pow(2).sum(-1).min(-1).values
        torch.testing.assert_close(goal_distance(_Model(), goal, "readout_min", success_qpos=(1, 2),
                                                 state_probe=loaded)(z), expected)
    assert loaded.info == {"note": "x"}


@pytest.fixture(scope="module")
def readout_checkpoint(tiny_reacher_h5, tmp_path_factory):
    """A tiny reacher checkpoint with a state readout (untrained) sized for the tiny data's qpos."""
    from world_model import LeWM

    with h5py.File(tiny_reacher_h5) as f:
        nq = f["qpos"].shape[1]
    k = nq + 2  # joints 0 and 1 are angles: cos and sin each
    folder = tmp_path_factory.mktemp("ckpt") / "tiny_readout"
    torch.manual_seed(0)
    LeWM(tiny_config(state_lambda=1.0, state_mean=[0.0] * k, state_std=[1.0] * k, angle_qpos=[0, 1])).save(folder)
    return folder


def test_lewm_train_probe_command_and_the_agent_loads_it(readout_checkpoint, tiny_reacher_h5, tiny_checkpoint,
                                                         tmp_path):
    from agent.agent import make_agent

    out = tmp_path / "probe"
    run = subprocess.run([installed_command("lewm-train-probe"), "--checkpoint", str(readout_checkpoint), "--data",
                          str(tiny_reacher_h5), "--steps", "20", "--hidden", "16", "--out", str(out),
                          "--no-progress"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "held-out RMS error per target" in run.stdout and (out / "state_probe.safetensors").is_file()
    # Beside the checkpoint it is the agent's, and checked against the model's digest.
    (readout_checkpoint / "state_probe.safetensors").write_bytes((out / "state_probe.safetensors").read_bytes())
    try:
        agent = make_agent(str(readout_checkpoint), planner="mppi", device="cpu", cost="readout", num_samples=4,
                           n_iters=1, waypoints=False)
        assert isinstance(agent.state_probe, StateProbe)
        assert make_agent(str(readout_checkpoint), planner="mppi", device="cpu", state_probe=False,
                          waypoints=False).state_probe is None
    finally:
        (readout_checkpoint / "state_probe.safetensors").unlink()
    # A model without a state readout has no targets to learn.
    bad = subprocess.run([installed_command("lewm-train-probe"), "--checkpoint", str(tiny_checkpoint), "--data",
                          str(tiny_reacher_h5), "--out", str(tmp_path / "no")], capture_output=True, text=True,
                         timeout=300)
    assert bad.returncode != 0 and "state_lambda > 0" in bad.stderr and "Traceback" not in bad.stderr
    from conftest import assert_clean_cli_errors

    cmd = [installed_command("lewm-train-probe"), "--checkpoint", str(readout_checkpoint), "--data",
           str(tiny_reacher_h5), "--steps", "20", "--out", str(out), "--predicted", "0", "--no-progress"]
    assert_clean_cli_errors(cmd, ((["--steps", "0"], "--steps must be in [1, 10000000]"),
                                  (["--predicted", "-1"], "--predicted must be in [0, 10000000]"),
                                  (["--predicted", "10"], "too short for predicted embeddings"),
                                  (["--data", str(tmp_path / "none.h5")], "not found"),
                                  (["--checkpoint", str(tmp_path)], "is not a checkpoint folder"),
                                  (["--out", str(tiny_reacher_h5)], "is a file")))


def test_predicted_embeddings_are_paired_with_the_state_the_data_reached(tiny_reacher_h5, tmp_path):
    from world_model import LeWM
    from world_model.policies.train_state_probe import encode_states

    with h5py.File(tiny_reacher_h5) as f:
        nq, ep_len = f["qpos"].shape[1], f["ep_len"][:]
    k = nq + 2
    torch.manual_seed(0)
    model = LeWM(tiny_config(frameskip=1, state_lambda=1.0, state_mean=[0.0] * k, state_std=[1.0] * k,
                             angle_qpos=[0, 1])).eval()
    z, targets, episodes = encode_states(model, [tiny_reacher_h5], progress=False)
    assert len(z) == len(targets) == len(episodes) == ep_len.sum()
    z2, targets2, episodes2 = encode_states(model, [tiny_reacher_h5], progress=False, predicted=40, horizon=5)
    assert len(z2) == ep_len.sum() + 40 and set(episodes2) == set(episodes)
    extra_targets = targets2[len(z):]
    # every predicted sample's target is the target of a real frame of its episode
    assert all(any(torch.equal(t, targets[i]) for i in np.flatnonzero(episodes == e))
               for t, e in zip(extra_targets[:10], episodes2[len(z):len(z) + 10]))
    assert not torch.equal(z2[len(z):][:5], z[:5])  # rolled out, not copied frames
