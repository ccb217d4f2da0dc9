"""Collection plans: shards in a data folder outside the checkout, interleaved by policy, resumable with a
manifest; the data folder setting."""

import json

import h5py
import pytest

from agent.collect import CollectError
from agent.collect_plan import collect_plan, load_plan, manifest_summary, plan_shards
from agent.data_home import data_home

PLAN = {"env": "reacher", "steps": 4, "episodes_per_shard": 2, "image_size": 24,
        "groups": [{"policy": "held_random", "shards": 3, "seed": 10}],
        "heldout": {"policy": "held_random", "episodes": 1, "seed": 1}}


def test_groups_are_interleaved_in_proportion_and_the_heldout_shard_comes_first():
    plan = {**PLAN, "groups": [{"policy": "a", "shards": 4, "seed": 100}, {"policy": "b", "shards": 2, "seed": 200}]}
    names = [s.name for s in plan_shards(plan)]
    assert names == ["heldout_held_random_s1", "a_s100", "b_s200", "a_s101", "a_s102", "b_s201", "a_s103"]
    assert len(set(names)) == len(names)


@pytest.mark.slow
def test_a_plan_is_collected_across_runs_and_recorded_in_the_manifest(tmp_path):
    folder = tmp_path / "data"
    first = collect_plan(PLAN, folder, workers=1, max_shards=2, progress=False)
    assert set(first["shards"]) == {"heldout_held_random_s1", "held_random_s10"}
    assert manifest_summary(first).startswith("2 of 4 shards collected, 15 of about 35 frames")
    again = collect_plan(PLAN, folder, workers=1, progress=False)  # resumes: only the missing shards
    assert sorted(again["shards"]) == sorted(s.name for s in plan_shards(PLAN))
    assert again["shards"]["held_random_s10"]["finished"] == first["shards"]["held_random_s10"]["finished"]
    recorded = json.loads((folder / "manifest.json").read_text())
    assert recorded["shards"]["held_random_s12"]["frames"] == 10 and recorded["plan"]["env"] == "reacher"
    with h5py.File(folder / "held_random_s11.h5") as f:
        assert int(f.attrs["seed"]) == 11 and list(f["ep_len"][:]) == [5, 5]
    with pytest.raises(CollectError, match="steps=4, the plan says 6"):
        collect_plan({**PLAN, "steps": 6}, folder, workers=1, progress=False)


def test_a_shard_finished_by_a_resumed_run_does_not_claim_the_time_of_its_last_run_only(tmp_path):
    """A stop mid-shard, then a resume: the shard's seconds are unknown (None), not this run's few seconds."""
    from agent.collect import CollectConfig, _collect_part, _prepare_parts

    plan = {k: v for k, v in PLAN.items() if k != "heldout"} | {"groups": [{"policy": "held_random", "shards": 1,
                                                                             "seed": 10}]}
    folder = tmp_path / "data"
    folder.mkdir()
    cfg = CollectConfig(env="reacher", episodes=2, steps=4, image_size=24, seed=10, policy="held_random")
    parts = folder / "held_random_s10.h5.parts"
    _prepare_parts(cfg, parts)
    _collect_part((cfg, str(parts), 0))  # the earlier run stopped after one of the two episodes
    shard = collect_plan(plan, folder, workers=1, progress=False)["shards"]["held_random_s10"]
    assert shard["seconds"] is None
    assert shard["resumed"]["episodes"] == 1 and shard["resumed"]["seconds"] > 0
    assert shard["frames"] == 10


@pytest.mark.parametrize("text, message", [
    ("[1, 2]", "needs 'env', 'steps'"),
    ("env: reacher\nsteps: 0\nepisodes_per_shard: 2\ngroups: [{policy: a, shards: 1, seed: 0}]", "'steps' must be"),
    ("env: reacher\nsteps: 5\nepisodes_per_shard: 2\ngroups: [{policy: a, shards: 1}]", "integer 'seed'"),
    ("env: reacher\nsteps: 5\nepisodes_per_shard: 2\ngroups: [{policy: a, shards: 0, seed: 1}]", "'shards' must"),
    ("env: [unclosed", "cannot read collection plan"),
])
def test_a_malformed_plan_is_one_clear_error(tmp_path, text, message):
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    with pytest.raises(CollectError, match=message):
        load_plan(path)


def test_the_data_folder_is_the_users_setting_with_a_cache_default(monkeypatch, tmp_path):
    monkeypatch.setenv("LEWM_DATA", str(tmp_path / "mine"))
    assert data_home() == tmp_path / "mine"
    monkeypatch.delenv("LEWM_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert data_home() == tmp_path / "cache" / "lewm"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert data_home().parts[-2:] == (".cache", "lewm")


def test_the_shipped_cube_plan_reads_and_reaches_ogbench_scale():
    plan = load_plan("experiments/configs/cube_data.yaml")
    shards = plan_shards(plan)
    frames = sum(s.episodes for s in shards if not s.name.startswith("heldout")) * (plan["steps"] + 1)
    assert plan["env"] == "cube" and frames >= 1_000_000
    assert {s.policy for s in shards} == {"oracle", "oracle_wide"}


def test_the_shipped_pusht_plan_mixes_both_push_policies_and_keeps_the_first_models_heldout():
    from envs.policies import check_policy
    plan = load_plan("experiments/configs/pusht_data.yaml")
    shards = plan_shards(plan)
    assert {s.policy for s in shards if not s.name.startswith("heldout")} == {"push", "push_turn"}
    for s in shards:
        check_policy(s.policy, plan["env"])
    assert shards[0].name == "heldout_push_s1" and shards[0].episodes == 100  # the LeWM protocol's pairs


@pytest.mark.slow
def test_lewm_collect_plan_command(tmp_path, monkeypatch):
    import subprocess

    import yaml
    from conftest import installed_command

    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump(PLAN))
    env = {**__import__("os").environ, "LEWM_DATA": str(tmp_path / "home")}
    cmd = [installed_command("lewm-collect"), "--plan", str(plan), "--workers", "1", "--no-progress"]
    done = subprocess.run(cmd + ["--max-shards", "1"], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    expected = f"{tmp_path / 'home' / 'reacher'}: 1 of 4 shards collected, 5 of about 35 frames planned"
    assert done.stdout.strip() == expected
    bad = subprocess.run(cmd + ["--max-shards", "0"], capture_output=True, text=True, timeout=300, env=env)
    assert bad.returncode == 2 and "--max-shards must be at least 1" in bad.stderr and "Traceback" not in bad.stderr
