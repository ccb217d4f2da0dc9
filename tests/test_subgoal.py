"""The subgoal policy: hindsight targets, training on a toy problem, save/load, the agent, and the command."""

import numpy as np
import pytest
import torch
from conftest import model_sha

from test_proposal import toy_episodes
from common.cli_errors import UserInputError
from world_model.policies.proposal_data import SubgoalSampler
from world_model.policies.subgoal import SubgoalPolicy
from world_model.policies.train_subgoal import train_subgoal


def test_subgoal_targets_are_the_frame_k_blocks_ahead_or_the_nearer_goal():
    data, _ = toy_episodes(episodes=3, steps=20, frameskip=2)
    sampler = SubgoalSampler(data, subgoal_blocks=2, max_goal_blocks=6, seed=0)
    batch = sampler.sample(512)
    z = data.z
    rows = [int(torch.nonzero((z == r).all(-1))[0]) for r in batch["z"][:64]]
    goals = [int(torch.nonzero((z == g).all(-1))[0]) for g in batch["goal"][:64]]
    subs = [int(torch.nonzero((z == s).all(-1))[0]) for s in batch["subgoal"][:64]]
    for r, g, s in zip(rows, goals, subs):
        k = (g - r) // 2
        assert 1 <= k <= 6 and (g - r) % 2 == 0
        assert s == r + 2 * min(k, 2)


def test_training_learns_the_toy_and_the_saved_policy_loads_the_same(tmp_path):
    data, _ = toy_episodes()
    policy, metrics = train_subgoal(data, embed_dim=16, subgoal_blocks=2, max_goal_blocks=6, steps=400, batch=256,
                                    hidden=64, progress=False)
    # The toy's moves are held for 2 blocks at random: where it will be 2 blocks on is partly predictable from
    # the direction to the goal, and an untrained net is worse than staying put.
    assert metrics["val_after"]["explained"] > 0.3 > metrics["val_before"]["explained"], metrics
    assert metrics["val_after"]["explained_all"] > 0.3
    path = policy.save(tmp_path, info=metrics)
    loaded = SubgoalPolicy.load(tmp_path)
    z, goal = data.z[:5], data.z[10:15]
    torch.testing.assert_close(loaded(z, goal), policy(z, goal))
    assert loaded.info["steps"] == 400 and path.name == "subgoal.safetensors" and loaded.subgoal_blocks == 2
    targets = loaded.subgoals(z.double(), goal[:1].double())  # one goal for every env; the goal's dtype back
    assert targets.shape == (5, 16) and targets.dtype == torch.float64


def test_goal_within_reach_is_its_own_target_and_reach_is_saved(tmp_path):
    torch.manual_seed(0)
    policy = SubgoalPolicy(8, 2, hidden=16, reach=0.05)
    z = torch.zeros(3, 8)
    goal = torch.stack([torch.full((8,), 0.1), torch.full((8,), 0.5), torch.full((8,), 2.0)])  # 0.005, 0.125, 2.0
    targets = policy.subgoals(z, goal)
    torch.testing.assert_close(targets[0], goal[0])  # within reach: the goal itself
    for row in (1, 2):  # beyond: the predicted subgoal, never the goal
        torch.testing.assert_close(targets[row], policy(z[row:row + 1], goal[row:row + 1])[0])
        assert not torch.allclose(targets[row], goal[row])
    policy.save(tmp_path)
    assert SubgoalPolicy.load(tmp_path).reach == 0.05
    never = SubgoalPolicy(8, 2, hidden=16)  # no reach: always the subgoal, as files written before it
    assert never.reach is None and not torch.allclose(never.subgoals(z, goal)[0], goal[0])
    with pytest.raises(ValueError, match="reach must be positive"):
        SubgoalPolicy(8, 2, reach=0.0)


@pytest.mark.parametrize("content, message", [(b"", "not a readable subgoal policy"),
                                              (b"\x00" * 64, "not a readable subgoal policy")])
def test_damaged_subgoal_file_is_one_clear_error(tmp_path, content, message):
    (tmp_path / "subgoal.safetensors").write_bytes(content)
    with pytest.raises(UserInputError, match=message):
        SubgoalPolicy.load(tmp_path)
    with pytest.raises(FileNotFoundError, match="lewm-train-subgoal"):
        SubgoalPolicy.load(tmp_path / "elsewhere")


def test_agent_aims_at_the_checkpoints_subgoal(tiny_checkpoint, tmp_path):
    import shutil

    from agent.agent import make_agent

    folder = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, folder)
    torch.manual_seed(0)
    SubgoalPolicy(32, 2, hidden=16).save(folder, model_sha256=model_sha(folder))
    agent = make_agent(str(folder), horizon=3, num_samples=12, n_iters=2, topk=3, precision="fp32")
    assert isinstance(agent.waypoints, SubgoalPolicy)
    rng = np.random.default_rng(0)
    goal = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
    agent.set_goal(goal)
    agent.act(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))
    aimed = agent._state.target  # what the first plan aimed at
    assert aimed is not None and not torch.allclose(aimed, agent._goal.expand_as(aimed))
    assert make_agent(str(folder), horizon=3, subgoals=False, waypoints=False).waypoints is None
    assert make_agent(str(tiny_checkpoint), horizon=3, waypoints=False).waypoints is None  # no file: as before
    with pytest.raises(ValueError, match="not both"):
        make_agent(str(folder), horizon=3, subgoals=True, waypoints=True)


@pytest.mark.slow
def test_lewm_train_subgoal_command(tiny_checkpoint, tiny_reacher_h5, tmp_path):
    import subprocess

    from conftest import assert_clean_cli_errors, installed_command

    cmd = [installed_command("lewm-train-subgoal"), "--checkpoint", str(tiny_checkpoint), "--data",
           str(tiny_reacher_h5), "--out", str(tmp_path), "--steps", "20", "--subgoal-blocks", "2",
           "--max-goal-blocks", "4", "--reach", "0.2", "--no-progress"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"wrote {tmp_path / 'subgoal.safetensors'}")
    loaded = SubgoalPolicy.load(tmp_path)
    assert loaded.subgoal_blocks == 2 and loaded.reach == 0.2
    assert_clean_cli_errors(cmd, ((["--steps", "0"], "--steps must be at least 1"),
                            (["--reach", "-1"], "--reach must be positive"),
                            (["--subgoal-blocks", "9"], "must not exceed --max-goal-blocks"),
                            (["--data", str(tmp_path / "none.h5")], "dataset not found"),
                            (["--checkpoint", str(tmp_path)], "is not a checkpoint folder")))
