"""Following the proposal policy without search, and a checkpoint's measured choice of planner."""

import json
import shutil

import numpy as np
import pytest
import torch

from agent.planner_choice import FILE_NAME, checkpoint_planner, write_planner_choice
from agent.agent import make_agent
from agent.pretrained import PLANNERS
from planners import FollowProposal
from common.cli_errors import UserInputError
from world_model.policies.proposal import ProposalPolicy
from conftest import model_sha


def test_it_returns_the_proposal_clipped_and_asks_the_cost_at_most_once():
    planner = FollowProposal(horizon=3, action_dim=2, action_low=-1.0, action_high=1.0, num_samples=300, n_iters=9)
    proposal = torch.tensor([[0.5, -0.2], [2.0, 0.0], [-3.0, 0.9]]).expand(4, 1, 3, 2)
    calls = []

    def cost(candidates):
        calls.append(tuple(candidates.shape))
        return candidates.square().sum((-1, -2))

    result = planner.plan(cost, batch_size=4, init_mean=torch.ones(4, 3, 2), proposals=proposal)
    expected = torch.tensor([[0.5, -0.2], [1.0, 0.0], [-1.0, 0.9]])
    assert torch.equal(result.actions, expected.expand(4, 3, 2))  # init_mean ignored, the box kept
    assert calls == [(4, 1, 3, 2)]  # eval_final: the plan's own cost, once
    torch.testing.assert_close(result.costs, torch.full((4,), float(expected.square().sum())))
    quiet = FollowProposal(horizon=3, action_dim=2, eval_final=False)
    assert torch.isnan(quiet.plan(cost, batch_size=4, proposals=proposal).costs).all() and len(calls) == 1
    with pytest.raises(ValueError, match="proposals=..."):
        planner.plan(cost, batch_size=4)


@pytest.fixture
def checkpoint_with_proposal(tiny_checkpoint, tmp_path):
    folder = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, folder)
    torch.manual_seed(0)
    ProposalPolicy(32, 10, 3, hidden=16).save(folder, model_sha256=model_sha(folder))
    return folder


def test_the_agent_executes_what_its_proposal_policy_proposes(checkpoint_with_proposal):
    agent = make_agent(str(checkpoint_with_proposal), planner="proposal", horizon=3, precision="fp32")
    assert isinstance(agent.planner, FollowProposal) and agent.planner_name == "proposal"
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (2, 32, 32, 3), dtype=np.uint8)
    agent.set_goal(frames[1])
    action = agent.act(frames[0])
    z = agent.world_model.encode(torch.from_numpy(frames[:1])).float()
    goal = agent.world_model.encode(torch.from_numpy(frames[1:])).float()
    plan = agent.planner._clip(agent.proposal.propose(z[:, None], goal))
    first = agent.world_model.denormalize_actions(plan[0, 0]).reshape(agent.frameskip, -1)[0]
    np.testing.assert_allclose(action, first.detach().numpy(), atol=1e-4)


def test_following_needs_a_proposal_policy(tiny_checkpoint):
    with pytest.raises(ValueError, match="has none for horizon 3: train one with lewm-train-proposal"):
        make_agent(str(tiny_checkpoint), planner="proposal", horizon=3)


def test_auto_takes_the_checkpoints_measured_choice(checkpoint_with_proposal, tiny_checkpoint):
    assert make_agent(str(tiny_checkpoint), horizon=3).planner_name == "mppi"  # no planning.json
    write_planner_choice(checkpoint_with_proposal, "proposal", "test: 9/10 against 5/10")
    assert json.loads((checkpoint_with_proposal / FILE_NAME).read_text())["evidence"] == "test: 9/10 against 5/10"
    assert make_agent(str(checkpoint_with_proposal), horizon=3).planner_name == "proposal"
    assert make_agent(str(checkpoint_with_proposal), planner="cem", horizon=3).planner_name == "cem"  # asked for


@pytest.mark.parametrize("content, message", [
    ("not json", "is not a planner choice"),
    ('{"planer": "mppi"}', "is not a planner choice"),
    ('["mppi"]', "is not a planner choice"),
    ('{"planner": "gradient"}', "names planner 'gradient'; known: cem, mppi, icem, proposal"),
])
def test_a_bad_planner_choice_is_one_clear_error(tmp_path, content, message):
    (tmp_path / FILE_NAME).write_text(content)
    with pytest.raises(UserInputError, match=message):
        checkpoint_planner(tmp_path, PLANNERS)


def load_choose_planner():
    """The module of ``lewm-choose-planner``."""
    import agent.cli_choose_planner

    return agent.cli_choose_planner


def refused(capsys, command, argv) -> str:
    """Runs a command's ``main`` that must refuse ``argv``: its one-line error (exit status 2)."""
    capsys.readouterr()
    assert command.main(argv) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and ": error: " in error, error
    return error


def run_summary(planner, successes, checkpoint, suite="lewm", seconds=0.04):
    return {"task": "cube", "planner": planner, "suite": suite, "successes": successes, "episodes": 50,
            "checkpoint": str(checkpoint), "plan_seconds_per_env_replan": seconds,
            "settings": {"nontrivial_pairs_only": True}}


def test_choose_planner_pools_runs_and_records_the_winner(tmp_path, capsys):
    choose_planner = load_choose_planner()
    folder = tmp_path / "ckpt"
    folder.mkdir()
    files = []
    for seed, (mppi, follow) in enumerate([(38, 46), (33, 44)]):
        path = tmp_path / f"s{seed}.json"
        path.write_text(json.dumps([run_summary("mppi", mppi, folder), run_summary("proposal", follow, folder)]))
        files.append(str(path))
    assert choose_planner.main(["--checkpoint", str(folder), *files]) == 0
    choice = json.loads((folder / FILE_NAME).read_text())
    assert choice["planner"] == "proposal" and "lewm: proposal 90/100 (0.040 s" in choice["evidence"]
    assert "mppi 71/100" in choice["evidence"]
    assert checkpoint_planner(folder, PLANNERS) == "proposal" and "(lewm: non-trivial pairs)" in choice["evidence"]
    every_pair = run_summary("mppi", 40, folder) | {"settings": {}}
    (tmp_path / "all_pairs.json").write_text(json.dumps([every_pair, run_summary("proposal", 41, folder) | {
        "settings": {}}]))
    assert choose_planner.main(["--checkpoint", str(folder), *files, str(tmp_path / "all_pairs.json")]) == 0
    choice = json.loads((folder / FILE_NAME).read_text())
    assert "(lewm: 4 of 6 runs on non-trivial pairs only)" in choice["evidence"]
    alone = tmp_path / "alone.json"
    alone.write_text(json.dumps([run_summary("proposal", 30, folder)]))
    assert "needs two planners" in refused(capsys, choose_planner, ["--checkpoint", str(folder), str(alone)])
    other = tmp_path / "other.json"
    other.write_text(json.dumps([run_summary("mppi", 1, tmp_path / "elsewhere")]))
    assert "no run of" in refused(capsys, choose_planner, ["--checkpoint", str(folder), str(other)])
    other.write_text("not json")
    assert "is not JSON" in refused(capsys, choose_planner, ["--checkpoint", str(folder), str(other)])


@pytest.mark.parametrize("runs, expected", [
    ([("mppi", "lewm", 40, 0.1), ("proposal", "lewm", 40, 0.001)], "proposal"),  # a tie: the faster
    ([("mppi", "lewm", 40, 0.1), ("proposal", "lewm", 39, 0.001)], "mppi"),  # success first
    ([("mppi", "lewm", 50, 0.1), ("proposal", "lewm", 50, 0.001),
      ("mppi", "free", 50, 0.1), ("proposal", "free", 31, 0.001)], "mppi"),  # must hold on every suite
    ([("cem", "lewm", 45, 0.1), ("proposal", "lewm", 40, 0.001),
      ("cem", "free", 30, 0.1), ("proposal", "free", 35, 0.001)], "mppi"),  # no planner best everywhere
    ([("mppi", "lewm", 40, 0.1), ("cem", "lewm", 40, 0.1)], "mppi"),  # equal in both: the default
])
def test_choose_planner_keeps_success_then_takes_the_fastest(runs, expected, tmp_path):
    choose_planner = load_choose_planner()
    summaries = [run_summary(p, s, tmp_path, suite, seconds) for p, suite, s, seconds in runs]
    assert choose_planner.choose(choose_planner.pooled(summaries)) == expected
    with pytest.raises(ValueError, match="no run of suite"):
        choose_planner.pooled([run_summary("mppi", 1, tmp_path), run_summary("cem", 2, tmp_path, "free")])


def test_a_checkpoint_may_record_every_goal_cost():
    from agent.latent_cost import COSTS
    from agent.planner_choice import SETTINGS

    assert set(SETTINGS["cost"]) == set(COSTS)
