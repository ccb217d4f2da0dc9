"""The proposal policy: hindsight samples, training on a toy problem, save/load, the command, and the agent."""

import numpy as np
import pytest
import torch
from conftest import model_sha

from planners import CEM
from common.cli_errors import UserInputError
from world_model.policies.proposal import ProposalPolicy
from world_model.policies.proposal_data import EncodedEpisodes, HindsightSampler, action_blocks
from world_model.policies.train_proposal import train_proposal


def toy_episodes(episodes=80, steps=40, frameskip=2, dim=16, seed=0):
    """A point in the plane moved by held random actions (x += 0.05 a); its 'embedding' is a fixed random linear
    map of the position, so the action that reaches a goal embedding is recoverable from (z, goal)."""
    rng = np.random.default_rng(seed)
    lift = rng.normal(size=(2, dim)).astype(np.float32)
    zs, actions, lengths = [], [], []
    for _ in range(episodes):
        held = np.repeat(rng.uniform(-1, 1, size=(steps // 4 + 1, 2)), 4, axis=0)[:steps].astype(np.float32)
        steps_taken = np.concatenate([np.zeros((1, 2)), np.cumsum(0.05 * held, 0)])
        pos = rng.uniform(-1, 1, size=2).astype(np.float32) + steps_taken
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


@pytest.mark.slow
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


@pytest.mark.slow
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


def test_agent_seeds_its_plans_with_the_checkpoints_proposal(tiny_checkpoint, tmp_path):
    import shutil

    from agent.agent import make_agent

    folder = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, folder)
    torch.manual_seed(0)
    ProposalPolicy(32, 10, 3, hidden=16).save(folder, model_sha256=model_sha(folder))
    agent = make_agent(str(folder), horizon=3, num_samples=12, n_iters=2, topk=3, precision="fp32")
    assert agent.proposal is not None
    calls = []
    original = agent.planner.plan

    def recording(cost_fn, batch_size, init_mean=None, proposals=None, **kw):
        calls.append((init_mean, proposals))
        return original(cost_fn, batch_size=batch_size, init_mean=init_mean, proposals=proposals, **kw)

    agent.planner.plan = recording
    rng = np.random.default_rng(0)
    agent.set_goal(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))
    for _ in range(2 * agent.frameskip):  # two action blocks: a first plan and a warm replan
        agent.act(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))
    (first_init, first_props), (warm_init, warm_props) = calls
    assert first_props.shape == (1, 1, 3, 10) and warm_props.shape == (1, 1, 3, 10)
    torch.testing.assert_close(first_init, first_props[:, 0])  # the first plan starts from the proposal
    assert not torch.equal(warm_init, warm_props[:, 0])  # a warm replan starts from its shifted plan
    assert make_agent(str(folder), horizon=3, proposal=False).proposal is None
    assert make_agent(str(tiny_checkpoint), horizon=3).proposal is None  # no file: plans as before


def test_a_longer_proposal_gives_its_first_blocks_and_a_shorter_one_is_refused(tiny_checkpoint, tmp_path):
    import shutil

    from agent.agent import make_agent

    folder = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, folder)
    ProposalPolicy(32, 10, 3, hidden=16).save(folder, model_sha256=model_sha(folder))  # plans 3 blocks ahead
    agent = make_agent(str(folder), horizon=2, num_samples=12, n_iters=1, topk=3, precision="fp32")
    assert agent.proposal is not None
    seen = []
    original = agent.planner.plan
    agent.planner.plan = lambda cost_fn, batch_size, init_mean=None, proposals=None, **kw: \
        seen.append(proposals.shape) or original(cost_fn, batch_size=batch_size, init_mean=init_mean,
                                                 proposals=proposals, **kw)
    rng = np.random.default_rng(0)
    agent.set_goal(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))
    agent.act(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))
    assert seen == [(1, 1, 2, 10)]
    assert make_agent(str(folder), horizon=4).proposal is None  # "auto": a shorter policy is left out
    with pytest.raises(ValueError, match="fewer than the planner's 4"):
        make_agent(str(folder), horizon=4, proposal=True)


@pytest.mark.slow
def test_lewm_train_proposal_command(tiny_checkpoint, tiny_reacher_h5, tmp_path):
    import subprocess

    from conftest import assert_clean_cli_errors, installed_command

    cmd = [installed_command("lewm-train-proposal"), "--checkpoint", str(tiny_checkpoint), "--data",
           str(tiny_reacher_h5), "--out", str(tmp_path), "--steps", "20", "--horizon", "3", "--dropout", "0.1",
           "--no-progress"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"wrote {tmp_path / 'proposal.safetensors'}")
    loaded = ProposalPolicy.load(tmp_path)
    assert loaded.horizon == 3 and loaded.dims["dropout"] == 0.1
    assert_clean_cli_errors(cmd, ((["--steps", "0"], "--steps must be at least 1"),
                            (["--data", str(tmp_path / "none.h5")], "dataset not found"),
                            (["--checkpoint", str(tmp_path)], "is not a checkpoint folder")))


def test_lewm_train_proposal_takes_several_files(tiny_checkpoint, tiny_reacher_h5, tmp_path, capsys):
    """The shards of a collection plan train one proposal: every file's episodes are used."""
    import json

    from world_model.policies import train_proposal

    args = ["--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path), "--steps", "2", "--horizon", "2",
            "--no-progress", "--data", str(tiny_reacher_h5), str(tiny_reacher_h5)]
    assert train_proposal.main(args) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics["data"] == [str(tiny_reacher_h5)] * 2
    assert ProposalPolicy.load(tmp_path).horizon == 2
