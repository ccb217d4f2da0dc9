"""The goal value: samples, both estimators on a toy chain, exact resume, the file, the command and the cost."""

import numpy as np
import pytest
import torch
from conftest import model_sha

from agent.latent_cost import VALUE_FAR_BLOCKS, far_value_distance, goal_distance, value_distance
from world_model.policies.proposal_data import EncodedEpisodes, action_blocks
from world_model.policies.train_value import rank_diagnostics, train_value
from world_model.policies.value import GoalValue
from world_model.policies.value_data import ValueSampler


def lifted_episodes(positions: list[np.ndarray], lift: np.ndarray, frameskip: int) -> EncodedEpisodes:
    """Episodes of 1-D positions (each (T,)) whose 'embedding' is the fixed lift (1, D) of the position."""
    ep_len = np.array([len(pos) for pos in positions])
    z = np.concatenate([pos[:, None].astype(np.float32) @ lift for pos in positions])
    action = np.zeros((ep_len.sum(), 1), np.float32)
    return EncodedEpisodes(torch.from_numpy(z), torch.from_numpy(action_blocks(action, frameskip)),
                           np.cumsum(ep_len) - ep_len, ep_len, frameskip)


def chain_episodes(episodes=60, steps=40, frameskip=2, dim=8, seed=0):
    """A point that walks along a line, 0.5 or 1 unit a step (random speed), from a random start; its
    'embedding' is a fixed random lift of its position. The blocks between two frames grow with their distance."""
    rng = np.random.default_rng(seed)
    lift = rng.normal(size=(1, dim)).astype(np.float32) / 10
    positions = [rng.uniform(0, 20) + np.concatenate([[0.0], np.cumsum(rng.choice([0.5, 1.0], steps))])
                 for _ in range(episodes)]
    return lifted_episodes(positions, lift, frameskip)


def test_samples_are_goals_ahead_in_the_episode_or_random():
    data = chain_episodes(episodes=3, steps=10)
    sampler = ValueSampler(data, max_goal_blocks=4, random_fraction=0.25, seed=0)
    b = sampler.sample(2000)
    same, k = b["same"].numpy(), b["k"].numpy()
    assert 0.2 < 1 - same.mean() < 0.3 and np.isnan(k[~same]).all()
    assert set(np.unique(k[same]).astype(int)) == {0, 1, 2, 3, 4}
    z_at_goal = torch.isclose(b["goal"], b["z"]).all(-1).numpy()
    assert z_at_goal[same & (k == 0)].all()  # k = 0: the goal is the start frame itself
    ladder = sampler.ladder(starts=5)
    assert ladder["k"].min() == 1 and ladder["k"].max() <= 4 and len(np.unique(ladder["start"])) == 5


@pytest.mark.slow
@pytest.mark.parametrize("estimator", ["mc", "td"])
def test_both_estimators_learn_to_order_goals_by_blocks(estimator):
    torch.manual_seed(0)
    data = chain_episodes()
    value, metrics = train_value(data, 8, estimator, steps=600, batch=256, max_goal_blocks=10, hidden=64, depth=2,
                                 eval_every=100, progress=False)
    assert metrics["val_before"]["spearman"] < 0.6
    assert metrics["val_after"]["spearman"] > 0.9, metrics["val_after"]
    assert metrics["val_after"]["spearman_per_start"] > 0.9


def random_walk_episodes(episodes=80, steps=40, frameskip=2, dim=8, seed=0):
    """A point that steps +-1 unit at random along a line from a random start (integer positions 0..20 at the
    start), its 'embedding' a fixed random lift of its position; returns the episodes and the lift (1, dim). The
    data's own way between two points is a long wander; the shortest is |x - g| / frameskip blocks."""
    rng = np.random.default_rng(seed)
    lift = rng.normal(size=(1, dim)).astype(np.float32) / 10
    positions = [rng.integers(0, 20) + np.concatenate([[0], np.cumsum(rng.choice([-1, 1], steps))])
                 for _ in range(episodes)]
    return lifted_episodes(positions, lift, frameskip), torch.from_numpy(lift)


@pytest.mark.slow
def test_the_default_td_value_reads_the_shortest_way_not_the_datas_wander():
    # Before the defaults moved to tau 0.1 (polyak 0.01), far goals read 2.3-2.5x their shortest distance on this
    # walk, and the two-room value ranked other-room goals at 0.25 against the true path length (docs/value.md).
    torch.manual_seed(0)
    data, lift = random_walk_episodes()
    value, _ = train_value(data, 8, "td", steps=600, batch=256, max_goal_blocks=20, hidden=64, depth=2,
                           eval_every=100, progress=False)
    x = torch.arange(0, 21, dtype=torch.float32)
    start, goal = (t.reshape(-1, 1) for t in torch.meshgrid(x, x, indexing="ij"))
    with torch.no_grad():
        blocks = value(start @ lift, goal @ lift)
    shortest = (start - goal).abs().reshape(-1) / 2
    far = shortest >= 4
    assert float((blocks[far] / shortest[far]).mean()) < 2.0


def test_an_interrupted_run_resumes_to_the_same_weights(tmp_path, monkeypatch):
    data = chain_episodes(episodes=20, steps=20)
    settings = dict(estimator="td", steps=30, batch=32, max_goal_blocks=6, hidden=16, depth=1, eval_every=10,
                    save_every=10, progress=False)
    whole, _ = train_value(data, 8, state_path=tmp_path / "a.pt", **settings)
    calls = {"n": 0}
    original = ValueSampler.sample

    def stop_at_the_15th(self, batch):
        calls["n"] += 1
        if calls["n"] == 15:
            raise KeyboardInterrupt
        return original(self, batch)

    monkeypatch.setattr(ValueSampler, "sample", stop_at_the_15th)
    with pytest.raises(KeyboardInterrupt):
        train_value(data, 8, state_path=tmp_path / "b.pt", **settings)
    monkeypatch.setattr(ValueSampler, "sample", original)
    assert torch.load(tmp_path / "b.pt", weights_only=False)["step"] == 10
    resumed, _ = train_value(data, 8, state_path=tmp_path / "b.pt", resume=True, **settings)
    for a, b in zip(whole.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    from common.cli_errors import UserInputError

    with pytest.raises(UserInputError, match="other settings"):
        train_value(data, 8, state_path=tmp_path / "b.pt", resume=True, **{**settings, "batch": 64})


def test_the_value_cost_prefers_the_plan_that_reaches_the_goal_sooner():
    class Distance(torch.nn.Module):  # a perfect value on a line: |g - z| in blocks
        def __init__(self):
            super().__init__()
            self.p = torch.nn.Parameter(torch.zeros(()))

        def forward(self, z, goal):
            return (goal - z).abs().sum(-1)

    goal = torch.tensor([[5.0]])
    slow = torch.tensor([1.0, 2.0, 3.0])[:, None]   # ends 2 blocks short
    fast = torch.tensor([2.0, 4.0, 5.0])[:, None]   # reaches it at the third block
    past = torch.tensor([3.0, 5.0, 7.0])[:, None]   # passes it at the second block, then overshoots
    cost = value_distance(Distance(), goal)(torch.stack([slow, fast, past])[None])
    assert cost.shape == (1, 3)
    assert cost[0].tolist() == [5.0, 3.0, 2.0]  # min over h of (h + distance left)
    with pytest.raises(ValueError, match="needs a goal value"):
        value_distance(None, goal)


class LineDistance(torch.nn.Module):
    """A perfect value on a line: |g - z| in blocks."""

    def __init__(self):
        super().__init__()
        self.p = torch.nn.Parameter(torch.zeros(()))

    def forward(self, z, goal):
        return (goal - z).abs().sum(-1)


def test_value_far_ranks_by_the_value_when_the_goal_is_far_and_by_the_nearest_step_when_near():
    far_goal, near_goal = VALUE_FAR_BLOCKS + 10.0, 3.0
    goals = torch.tensor([[far_goal], [near_goal]])
    now = torch.zeros(2, 1)
    # Two plans per env: "hop" passes the goal's neighbourhood late, "stop" ends 1 unit short at once.
    plans = torch.stack([
        torch.stack([torch.tensor([[1.0], [2.0], [far_goal]]), torch.tensor([[far_goal - 1], [far_goal - 1],
                                                                            [far_goal - 1]])]),
        torch.stack([torch.tensor([[1.0], [2.0], [near_goal]]), torch.tensor([[near_goal - 1], [near_goal - 1],
                                                                              [near_goal - 1]])])])
    cost = far_value_distance(None, now, goals, LineDistance())(plans)
    assert cost.shape == (2, 2)
    assert cost[0].tolist() == value_distance(LineDistance(), goals[:1])(plans[:1])[0].tolist()  # far: blocks
    assert cost[1].tolist() == [0.0, 1.0]  # near: the squared latent distance of the nearest step
    with pytest.raises(ValueError, match="needs a goal value"):
        far_value_distance(None, now, goals, None)
    with pytest.raises(ValueError, match="far_value_distance"):  # it needs the current embedding
        goal_distance(None, goals, "value_far", LineDistance())


def test_the_saved_value_loads_the_same_and_the_agent_plans_with_it(tiny_checkpoint, tmp_path):
    import shutil

    from agent.agent import make_agent

    folder = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, folder)
    torch.manual_seed(0)
    value = GoalValue(32, hidden=16, depth=1, max_blocks=10)
    value.save(folder, model_sha256=model_sha(folder))
    loaded = GoalValue.load(folder)
    z, g = torch.randn(4, 32), torch.randn(4, 32)
    torch.testing.assert_close(loaded(z, g), value(z, g))
    assert ((loaded(z, g) >= 0) & (loaded(z, g) <= 10)).all()
    agent = make_agent(str(folder), cost="value", horizon=3, num_samples=12, n_iters=2, topk=3, precision="fp32")
    assert agent.value is not None and agent.cost == "value"
    rng = np.random.default_rng(0)
    agent.set_goal(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))
    assert agent.act(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).shape == (2,)
    far = make_agent(str(folder), cost="value_far", horizon=3, num_samples=12, n_iters=2, topk=3, precision="fp32")
    far.set_goal(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))
    assert far.act(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).shape == (2,)
    assert make_agent(str(folder), horizon=3).cost == "all"  # loading a value changes nothing by itself
    for cost in ("value", "value_far"):
        with pytest.raises(ValueError, match=f"cost '{cost}' needs the checkpoint's goal value"):
            make_agent(str(tiny_checkpoint), cost=cost)
    other = tmp_path / "other"
    shutil.copytree(tiny_checkpoint, other)
    value.save(other, model_sha256="0" * 64)  # built for another model
    with pytest.raises(Exception, match="another model|other model|built for"):
        make_agent(str(other), cost="value")


@pytest.mark.slow
def test_lewm_train_value_command(tiny_checkpoint, tiny_reacher_h5, tmp_path):
    import subprocess

    from conftest import assert_clean_cli_errors, installed_command

    cmd = [installed_command("lewm-train-value"), "--checkpoint", str(tiny_checkpoint), "--data",
           str(tiny_reacher_h5), "--out", str(tmp_path), "--steps", "20", "--max-goal-blocks", "5", "--tau", "0.3",
           "--polyak", "0.005", "--no-progress"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"wrote {tmp_path / 'value.safetensors'}: held-out episodes, rank correlation")
    loaded = GoalValue.load(tmp_path)
    assert loaded.max_blocks == 5 and loaded.info["estimator"] == "td" and "val_after" in loaded.info
    assert (loaded.info["tau"], loaded.info["polyak"]) == (0.3, 0.005)  # the recipe of the shipped Push-T value
    assert loaded.model_sha256 == model_sha(tiny_checkpoint)
    assert not (tmp_path / "value_train_state.pt").exists()  # progress is removed once the value is written
    assert_clean_cli_errors(cmd, ((["--steps", "0"], "--steps must be at least 1"),
                                  (["--tau", "1.5"], "--tau must be in (0, 1)"),
                                  (["--polyak", "0"], "--polyak must be in (0, 1)"),
                                  (["--data", str(tmp_path / "none.h5")], "not found"),
                                  (["--checkpoint", str(tmp_path)], "is not a checkpoint folder")))


def test_rank_diagnostics_of_a_perfect_value_are_one():
    data = chain_episodes(episodes=10, steps=20)

    class Perfect(GoalValue):
        def forward(self, z, goal):  # the chain's embedding is a lift of the position: project back
            return (goal - z).norm(dim=-1)

    result = rank_diagnostics(Perfect(8), ValueSampler(data, max_goal_blocks=6), starts=20)
    assert result["spearman_per_start"] == pytest.approx(1.0)


def test_several_datasets_are_joined_episode_by_episode():
    a, b = chain_episodes(episodes=3, steps=10, seed=1), chain_episodes(episodes=2, steps=6, seed=2)
    joined = EncodedEpisodes.concat([a, b])
    assert len(joined.z) == len(a.z) + len(b.z) and joined.ep_len.tolist() == [11, 11, 11, 7, 7]
    assert torch.equal(joined.z[joined.ep_offset[3]], b.z[0])  # the second file's first frame
    with pytest.raises(ValueError, match="different frameskips"):
        EncodedEpisodes.concat([a, EncodedEpisodes(b.z, b.blocks, b.ep_offset, b.ep_len, 3)])


def test_value_readout_ranks_near_goals_in_the_readout_of_what_success_reads():
    # Embeddings of 3 entries read out as they are (qpos 0-2, no angles); success reads entry 2 only. Near the
    # goal, "value_readout" ignores entries 0-1, where "value_far"'s latent distance does not.
    from world_model.model.state_head import StateHead

    class Model:
        state_head = StateHead(3, [0.0] * 3, [1.0] * 3, angle_qpos=[])

    with torch.no_grad():
        Model.state_head.readout.weight.copy_(torch.eye(3))
        Model.state_head.readout.bias.zero_()

    class Blocks(torch.nn.Module):  # a value that puts every goal 1 block away: always near
        def __init__(self):
            super().__init__()
            self.p = torch.nn.Parameter(torch.zeros(()))

        def forward(self, z, goal):
            return torch.ones(torch.broadcast_shapes(z.shape, goal.shape)[:-1])

    goal, now = torch.zeros(1, 3), torch.zeros(1, 3)
    arm_off = torch.tensor([[[5.0, 5.0, 0.1]]])   # the object almost there, the arm far off
    object_off = torch.tensor([[[0.0, 0.0, 1.0]]])  # the arm at its goal pose, the object 1 away
    plans = torch.stack([arm_off, object_off])[None]  # (1, 2, 1, 3)
    readout = far_value_distance(Model(), now, goal, Blocks(), "readout_min", success_qpos=(2,))(plans)
    latent = far_value_distance(Model(), now, goal, Blocks())(plans)
    assert readout.argmin().item() == 0 and latent.argmin().item() == 1
    # A success test that reads every entry: the latent distance, as "value_far" (it measured better there).
    every = far_value_distance(Model(), now, goal, Blocks(), "min", success_qpos=None)(plans)
    torch.testing.assert_close(every, latent)
