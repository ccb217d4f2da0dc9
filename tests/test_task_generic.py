"""What differs between tasks (issue 7): which qpos entries are angles (probe), the unit of the final error,
trivial starts and other-room goals in evaluation summaries, the free-goal budget, and the data policies."""

import json
import subprocess

import numpy as np
import pytest
import torch
from conftest import installed_command, tiny_config

import envs
from agent import evaluation
from agent.evaluation import EpisodeResult, evaluate, lewm_pairs, suite_budget, to_jsonable
from agent.agent import make_agent
from agent.report import markdown_table
from envs.policies import DoorSeekingPolicy, HeldRandomPolicy, check_policy, make_policy
from envs.two_room import room_of
from world_model import LeWM
from world_model.data.dataset import TrajectoryDataset, dataset_angle_qpos, read_attrs
from world_model.training.probe import probe_targets, run_probe

FAST = dict(num_samples=8, n_iters=1, horizon=2, device="cpu")


# ----- 1. angles in qpos: declared by the env, recorded with the data, used by lewm-train and the probe -----------
def test_envs_declare_their_angles_and_units():
    expected = {"reacher": ((0, 1), "rad"), "pointmass": ((), "m"), "tworoom": ((), "m"), "pusht": ((4,), "px")}
    for name, (angles, unit) in expected.items():
        env = envs.make(name, image_size=16).unwrapped
        assert tuple(env.angle_qpos) == angles and env.error_unit == unit
        env.close()


def test_probe_targets_with_an_empty_angle_list_are_the_raw_positions():
    qpos = np.random.default_rng(0).uniform(-0.3, 0.3, (50, 2))
    y, names = probe_targets(qpos, [])
    assert names == ["qpos0", "qpos1"]
    np.testing.assert_allclose(y, qpos)
    y_all, names_all = probe_targets(qpos, None)  # unset: every entry is an angle (old reacher checkpoints)
    assert names_all == ["cos_qpos0", "sin_qpos0", "cos_qpos1", "sin_qpos1"]
    np.testing.assert_allclose(probe_targets(qpos, [0, 1])[0], y_all)
    with pytest.raises(ValueError, match="outside qpos"):
        probe_targets(qpos, [2])


def test_collected_datasets_declare_their_angles(tiny_reacher_h5, tiny_tworoom_h5):
    assert dataset_angle_qpos(read_attrs(tiny_reacher_h5)) == [0, 1]
    assert dataset_angle_qpos(read_attrs(tiny_tworoom_h5)) == []
    assert dataset_angle_qpos({}) is None


@pytest.mark.parametrize("angle_qpos", [[], None])  # None: the checkpoint does not say, the dataset does
def test_probe_on_positions_is_a_plain_regression(tiny_tworoom_h5, angle_qpos):
    torch.manual_seed(0)
    model = LeWM(tiny_config(task="tworoom", angle_qpos=angle_qpos))
    train_ds, val_ds = TrajectoryDataset(tiny_tworoom_h5, num_steps=1, frameskip=1).split(0.25, seed=0)
    result = run_probe(model, train_ds, val_ds, max_frames=200)
    assert result["targets"] == ["qpos0", "qpos1"] and np.isfinite(result["r2_mean"])


def test_lewm_train_takes_task_and_angles_from_the_dataset(tiny_tworoom_h5, tiny_reacher_h5):
    from world_model.training.train import _data

    cfg, _, _ = _data(tiny_config(task=""), str(tiny_tworoom_h5))
    assert cfg.task == "tworoom" and cfg.angle_qpos == []
    cfg, _, _ = _data(tiny_config(task="reacher", angle_qpos=[0, 1]), str(tiny_reacher_h5))
    assert cfg.angle_qpos == [0, 1]  # reacher unchanged
    with pytest.raises(ValueError, match="sets angle_qpos \\[0, 1\\] but .* declares \\[\\]"):
        _data(tiny_config(task="", angle_qpos=[0, 1]), str(tiny_tworoom_h5))
    with pytest.raises(ValueError, match="config is for task 'reacher' but .* collected on 'tworoom'"):
        _data(tiny_config(task="reacher"), str(tiny_tworoom_h5))


# ----- 2. lewm-plan's summary line in metres for position tasks ---------------------------------------------------
@pytest.mark.slow
def test_lewm_plan_on_a_position_task_reports_metres(tiny_tworoom_checkpoint, tmp_path):
    exe = installed_command("lewm-plan")
    goal = tmp_path / "goal.png"
    made = subprocess.run([exe, "--env", "tworoom", "--make-goal", str(goal), "--seed", "1", "--checkpoint",
                           str(tiny_tworoom_checkpoint)], capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr
    result = subprocess.run([exe, "--env", "tworoom", "--goal", str(goal), "--checkpoint",
                             str(tiny_tworoom_checkpoint), "--steps", "3", "--samples", "8", "--iters", "1",
                             "--horizon", "2", "--device", "cpu", "--no-progress"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("success: ")
    assert "final distance: " in lines[0] and " m (success within 0.045 m)" in lines[0]
    assert "joint" not in lines[0] and "rad" not in lines[0]


# ----- 3. evaluation summaries: unit, trivial starts, other-room goals ------------------------------------------
@pytest.mark.slow
def test_position_task_summary_has_metres_trivial_starts_and_rooms(tiny_tworoom_checkpoint, tiny_tworoom_h5):
    agent = make_agent(str(tiny_tworoom_checkpoint), task="tworoom", **FAST)
    run = evaluate("tworoom", "lewm", agent, episodes=8, seed=0, eval_data=tiny_tworoom_h5, budget=2,
                   planner_name="cem", progress=False)
    s = to_jsonable(run)
    env = envs.make("tworoom", image_size=32).unwrapped
    pairs = lewm_pairs(tiny_tworoom_h5, 8, seed=0)
    trivial = [env.is_success(p.start[:2], p.goal) for p in pairs]
    cross = [room_of(p.start[:2]) != room_of(p.goal) for p in pairs]
    assert s["error_unit"] == "m" and s["budget"] == 2
    assert s["trivial_starts"] == sum(trivial) and [e["trivial_start"] for e in s["per_episode"]] == trivial
    assert s["nontrivial_successes"] == sum(e.success for e, t in zip(run.episodes, trivial) if not t)
    assert s["groups"]["cross_room"]["episodes"] == sum(cross)
    assert [e["metrics"]["cross_room"] for e in s["per_episode"]] == cross and "cross_room" not in s["metrics"]
    assert s["groups"]["cross_room"]["successes"] == sum(e.success for e, c in zip(run.episodes, cross) if c)
    for e in run.episodes:  # the final error is the Euclidean distance, so failures are beyond the radius
        assert e.final_error >= 0 and (e.success or e.final_error > env.success_tolerance)
    env.close()
    table = markdown_table([s])
    assert f"{s['median_final_error']:.3f} m |" in table and "| task groups: success |" in table
    assert f"| other-room goals {s['groups']['cross_room']['successes']}/{sum(cross)} " in table or not any(cross)
    json.dumps(s)  # JSON-serialisable


def test_nontrivial_draws_only_pairs_that_start_away_from_the_goal(tiny_tworoom_checkpoint, tiny_tworoom_h5):
    env = envs.make("tworoom", image_size=32).unwrapped
    trivial = lambda p: env.is_success(p.start[:2], p.goal)  # noqa: E731
    everything = lewm_pairs(tiny_tworoom_h5, 10**6, seed=0, keep=lambda p: True)
    n_far = sum(not trivial(p) for p in everything)
    assert 0 < n_far < len(everything)  # the tiny data has both kinds
    kept = lewm_pairs(tiny_tworoom_h5, 3, seed=0, keep=lambda p: not trivial(p))
    assert len(kept) == min(3, n_far) and not any(trivial(p) for p in kept)
    assert len(lewm_pairs(tiny_tworoom_h5, 10**6, seed=0, keep=lambda p: not trivial(p))) == n_far  # rows ran out
    agent = make_agent(str(tiny_tworoom_checkpoint), task="tworoom", **FAST)
    s = to_jsonable(evaluate("tworoom", "lewm", agent, episodes=2, seed=0, eval_data=tiny_tworoom_h5, budget=1,
                             progress=False, nontrivial=True))
    assert s["trivial_starts"] == 0 and s["settings"]["nontrivial_pairs_only"] is True
    env.close()


@pytest.mark.slow
def test_reacher_summary_keeps_radians_and_has_no_rooms(tiny_checkpoint):
    agent = make_agent(str(tiny_checkpoint), task="reacher", **FAST)
    s = to_jsonable(evaluate("reacher", "free", agent, episodes=2, seed=0, budget=2, progress=False))
    assert s["error_unit"] == "rad" and s["trivial_starts"] == 0 and s["nontrivial_successes"] == s["successes"]
    assert s["groups"] == {} and s["metrics"] == {}
    row = markdown_table([s]).splitlines()[2]
    assert f"{s['median_final_error']:.3f} rad |" in row and row.count("| – |") >= 1


def test_trivial_and_cross_room_pairs_are_detected():
    env = envs.make("tworoom", image_size=16).unwrapped
    pairs = [evaluation.Pair(np.array([-0.1, 0.0, 0.0, 0.0]), np.array([-0.1, 0.03])),  # 3 cm: trivial
             evaluation.Pair(np.array([-0.1, 0.0, 0.0, 0.0]), np.array([0.1, 0.0]))]  # other room
    agent = type("StillAgent", (), {})()  # an agent that stands still and always plans
    agent.plan_seconds = []
    agent.reset = agent.set_goal = agent.keep = lambda *a: None
    agent.act = lambda obs: (agent.plan_seconds.append(0.0), np.zeros((len(obs), 2), np.float32))[1]
    results, _, _ = evaluation.run_episodes(lambda: envs.make("tworoom", image_size=16).unwrapped, agent, pairs,
                                            budget=1, progress=False)
    assert [r.trivial_start for r in results] == [True, False]
    assert [r.metrics for r in results] == [{"cross_room": False}, {"cross_room": True}]
    assert results[0].success and not results[1].success
    assert results[1].final_error == pytest.approx(0.2, abs=1e-3)  # metres, Euclidean
    env.close()


# ----- 4. the free-goal budget is per task ------------------------------------------------------------------------
def test_free_budget_is_per_task_and_overridable(tiny_checkpoint, monkeypatch):
    assert {n: s.free_budget for n, s in envs.TASKS.items()} == {"reacher": 200, "pointmass": 300, "tworoom": 200,
                                                                       "pusht": 300, "cube": 200}
    assert [suite_budget(t, "free") for t in ("reacher", "pointmass", "tworoom")] == [200, 300, 200]
    assert suite_budget("pointmass", "lewm") == 50
    with pytest.raises(ValueError, match="unknown suite"):
        suite_budget("reacher", "hard")
    seen = []

    def fake_run_episodes(make_env, agent, pairs, budget, **kw):
        seen.append(budget)
        return [EpisodeResult(False, budget, 1.0) for _ in pairs], [0.1], [len(pairs)]

    monkeypatch.setattr(evaluation, "run_episodes", fake_run_episodes)
    agent = make_agent(str(tiny_checkpoint), **FAST)
    assert evaluate("pointmass", "free", agent, episodes=1, progress=False).budget == 300
    assert evaluate("reacher", "free", agent, episodes=1, progress=False).budget == 200
    assert evaluate("pointmass", "free", agent, episodes=1, budget=7, progress=False).budget == 7
    assert seen == [300, 200, 7]


# ----- 5. data policies ------------------------------------------------------------------------------------------
def test_policy_selection_and_its_errors():
    rng = np.random.default_rng(0)
    assert isinstance(make_policy("held_random", "reacher", 2, rng), HeldRandomPolicy)
    assert isinstance(make_policy("door_seeking", "tworoom", 2, rng), DoorSeekingPolicy)
    known = "door_seeking, held_random, oracle, oracle_markov, oracle_wide, push"
    with pytest.raises(ValueError, match=f"unknown policy 'bogus'; known policies: {known}"):
        check_policy("bogus", "reacher")
    with pytest.raises(ValueError, match="policy 'door_seeking' works only for tworoom, not 'pointmass'"):
        make_policy("door_seeking", "pointmass", 2, rng)
    with pytest.raises(ValueError, match="needs the agent position"):
        make_policy("door_seeking", "tworoom", 2, rng)(None)


def test_held_random_through_make_policy_is_unchanged():
    a = HeldRandomPolicy(2, np.random.default_rng(5), max_hold=7)
    b = make_policy("held_random", "reacher", 2, np.random.default_rng(5), max_hold=7)
    np.testing.assert_array_equal([a() for _ in range(40)], [b(None, {"qpos": np.zeros(2)}) for _ in range(40)])


@pytest.mark.slow
def test_door_seeking_crosses_to_the_other_room():
    env = envs.make("tworoom", image_size=16).unwrapped
    for seed in range(2):
        policy = DoorSeekingPolicy(2, np.random.default_rng(seed), door_prob=1.0, max_wander=5)
        obs, info = env.reset(seed=seed)
        room, rooms = info["room"], []
        for _ in range(120):
            action = policy(obs, info)
            assert action.dtype == np.float32 and np.all(np.abs(action) <= 1.0)
            obs, _, _, _, info = env.step(action)
            rooms.append(info["room"])
        assert room != rooms[-1] or (1 - room) in rooms, f"seed {seed} never left room {room}"
    env.close()


def test_resume_accepts_a_manifest_written_before_new_settings(tmp_path):
    from dataclasses import asdict

    from agent.collect import CollectConfig, _prepare_parts

    cfg = CollectConfig(env="tworoom", episodes=2, steps=5)
    parts = tmp_path / "x.h5.parts"
    parts.mkdir()
    old = {k: v for k, v in asdict(cfg).items() if k != "door_prob"}
    (parts / "manifest.json").write_text(json.dumps(old))
    assert _prepare_parts(cfg, parts) == [0, 1]


def test_an_evaluation_tells_the_agent_what_its_success_test_reads():
    # Push-T's coverage test reads the block alone; its pose test reads all five entries.
    pair = evaluation.Pair(np.array([100.0, 100.0, 300.0, 300.0, 0.5] + [0.0] * 5), np.array([256.0, 440.0, 256.0,
                                                                                                 256.0, 0.785]))
    seen = []
    agent = type("StillAgent", (), {})()
    agent.plan_seconds, agent.success_qpos = [], None
    agent.reset = agent.keep = lambda *a: None
    agent.set_goal = lambda goal: seen.append(agent.success_qpos)
    agent.act = lambda obs: (agent.plan_seconds.append(0.0), np.zeros((len(obs), 2), np.float32))[1]
    for success, reads in (("coverage", (2, 3, 4)), ("pose", ())):
        evaluation.run_episodes(lambda: envs.make("pusht", image_size=16, success=success).unwrapped, agent, [pair],
                                budget=1, progress=False)
        assert seen[-1] == reads
