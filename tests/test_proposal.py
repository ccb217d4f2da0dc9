"""The proposal policy: hindsight samples, training on a toy problem, save/load, the command, and the agent."""

import numpy as np
import pytest
import torch

from planners import CEM
from world_model.cli_errors import UserInputError
from world_model.proposal import ProposalPolicy
from world_model.proposal_data import EncodedEpisodes, HindsightSampler, action_blocks
from world_model.train_proposal import train_proposal


def toy_episodes(episodes=80, steps=40, frameskip=2, dim=16, seed=0):
    """A point in the plane moved by held random actions (x += 0.05 a); its 'embedding' is a fixed random linear
    map of the position, so the action that reaches a goal embedding is recoverable from (z, goal)."""
    rng = np.random.default_rng(seed)
    lift = rng.normal(size=(2, dim)).astype(np.float32)
    zs, actions, lengths = [], [], []
    for _ in range(episodes):
        held = np.repeat(rng.uniform(-1, 1, size=(steps // 4 + 1, 2)), 4, axis=0)[:steps].astype(np.float32)
        pos = rng.uniform(-1, 1, size=2).astype(np.float32) + np.concatenate([np.zeros((1, 2)), np.cumsum(0.05 * held, 0)])
        zs.append(pos @ lift)
        actions.append(np.concatenate([held, np.full((1, 2), np.nan, np.float32)]))
        lengths.append(steps + 1)
    action = np.nan_to_num(np.concatenate(actions))
    ep_len = np.array(lengths)
    return EncodedEpisodes(torch.from_numpy(np.concatenate(zs).astype(np.float32)),
                           torch.from_numpy(action_blocks(action, frameskip)), np.cumsum(ep_len) - ep_len, ep_len,
                           frameskip), lift


def test_action_blocks_stack_the_next_frameskip_actions():
    action = np.arange(10, dtype=np.float32).reshape(5, 2)
    blocks = action_blocks(action, 2)
    np.testing.assert_array_equal(blocks[0], [0, 1, 2, 3])
    np.testing.assert_array_equal(blocks[4], [8, 9, 0, 0])


def test_hindsight_samples_supervise_only_the_blocks_before_the_goal():
    data, _ = toy_episodes(episodes=3, steps=20, frameskip=2)
    sampler = HindsightSampler(data, horizon=4, max_goal_blocks=3, seed=0)
    batch = sampler.sample(256)
    assert batch["plan"].shape == (256, 4, 4) and batch["mask"].shape == (256, 4)
    k = batch["mask"].sum(1)
    assert k.min() >= 1 and k.max() <= 3 and not batch["mask"][:, 3].any()
    # The goal is the embedding k blocks after z: in the toy, z + lift-mapped sum of the supervised actions.
    first = batch["mask"][:, 0] & ~batch["mask"][:, 1]  # goal one block ahead
    moved = batch["plan"][first, 0].reshape(-1, 2, 2).sum(1) * 0.05
    lift = torch.linalg.lstsq(moved, (batch["goal"] - batch["z"])[first]).solution
    torch.testing.assert_close(moved @ lift, (batch["goal"] - batch["z"])[first], atol=1e-4, rtol=1e-4)


def test_training_learns_the_toy_and_the_saved_policy_loads_the_same(tmp_path):
    data, _ = toy_episodes()
    policy, metrics = train_proposal(data, embed_dim=16, horizon=3, steps=400, batch=256, hidden=64, progress=False)
    before, after = metrics["val_before"]["explained_first_block"], metrics["val_after"]["explained_first_block"]
    # Only the sum of a block's actions shows in the goal, so half the first block's variance is explainable.
    assert after > 0.4 and after > before + 0.3, metrics
    path = policy.save(tmp_path, info=metrics)
    loaded = ProposalPolicy.load(tmp_path)
    z = torch.randn(5, 2, 16)
    goal = torch.randn(1, 16)
    torch.testing.assert_close(loaded.propose(z, goal), policy.propose(z, goal))
    assert loaded.info["steps"] == 400 and path.name == "proposal.safetensors"


@pytest.mark.parametrize("content, message", [
    (b"", "not a readable proposal policy"),
    (b"\x00" * 64, "not a readable proposal policy"),
])
def test_damaged_proposal_file_is_one_clear_error(tmp_path, content, message):
    (tmp_path / "proposal.safetensors").write_bytes(content)
    with pytest.raises(UserInputError, match=message):
        ProposalPolicy.load(tmp_path)
    with pytest.raises(FileNotFoundError, match="lewm-train-proposal"):
        ProposalPolicy.load(tmp_path / "elsewhere")


def test_non_finite_weights_are_refused(tmp_path):
    policy = ProposalPolicy(8, 4, 2, hidden=8)
    with torch.no_grad():
        policy.net[0].weight[0, 0] = float("nan")
    policy.save(tmp_path)
    with pytest.raises(UserInputError, match="non-finite"):
        ProposalPolicy.load(tmp_path)


def test_the_trained_proposal_lets_a_tiny_planner_budget_reach_toy_goals():
    """Plan in the toy's latent space (cost = distance of the predicted end point to the goal): with the
    proposal, 1 iteration of 8 samples lands much closer than without it."""
    data, lift = toy_episodes()
    policy, _ = train_proposal(data, embed_dim=16, horizon=3, steps=400, batch=256, hidden=64, progress=False)
    lift_t = torch.from_numpy(lift)
    rng = np.random.default_rng(1)
    start = torch.from_numpy(rng.uniform(-0.5, 0.5, size=(32, 2)).astype(np.float32))
    goal_pos = start + torch.from_numpy(rng.uniform(-0.15, 0.15, size=(32, 2)).astype(np.float32))
    z, goal = start @ lift_t, goal_pos @ lift_t

    def cost(candidates):  # (B, N, H, 4): two steps of 2-D actions per block
        end = start[:, None] + 0.05 * candidates.reshape(*candidates.shape[:2], -1, 2).sum(2)
        return (end - goal_pos[:, None]).square().sum(-1)

    planner = CEM(horizon=3, action_dim=4, num_samples=8, topk=2, n_iters=1, seed=0)
    alone = planner.plan(cost, batch_size=32).costs.mean()
    proposed = policy.propose(z[:, None], goal)
    helped = planner.plan(cost, batch_size=32, init_mean=proposed, proposals=proposed[:, None]).costs.mean()
    assert helped < 0.3 * alone, (helped, alone)
