"""Planner settings a checkpoint records in planning.json: applied by make_agent unless the caller gives their own,
refused with one clear line when malformed, and written by choose_planner only from runs made with them."""

import json
import shutil

import pytest
from test_follow_proposal import load_choose_planner, refused, run_summary

from agent.planner_choice import FILE_NAME, checkpoint_settings, write_planner_choice
from agent.agent import make_agent
from common.cli_errors import UserInputError


@pytest.fixture
def own_checkpoint(tiny_checkpoint, tmp_path):
    folder = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, folder)
    return folder


def test_recorded_settings_apply_unless_given(own_checkpoint):
    default = make_agent(str(own_checkpoint), planner="mppi", waypoints=False)
    assert default.planner.substep_correlation == pytest.approx(0.8) and default.planner.horizon == 5
    write_planner_choice(own_checkpoint, "mppi", "test", {"substep_correlation": 0.0, "horizon": 3})
    for planner in ("auto", "cem"):  # the settings belong to the checkpoint, whichever planner is named
        agent = make_agent(str(own_checkpoint), planner=planner, waypoints=False)
        assert agent.planner.substep_correlation == 0.0 and agent.planner.horizon == 3
    asked = make_agent(str(own_checkpoint), planner="auto", waypoints=False, substep_correlation=0.5, horizon=4)
    assert asked.planner.substep_correlation == 0.5 and asked.planner.horizon == 4


def test_a_recorded_sampling_spread_applies_unless_given(own_checkpoint):
    # a small spread makes the search refine the proposal (cube held-out pairs: 50/50 with 0.15; docs/value.md)
    assert make_agent(str(own_checkpoint), planner="mppi", waypoints=False).planner.init_std == 1.0
    write_planner_choice(own_checkpoint, "mppi", "test", {"init_std": 0.15})
    assert make_agent(str(own_checkpoint), waypoints=False).planner.init_std == 0.15
    assert make_agent(str(own_checkpoint), waypoints=False, init_std=0.5).planner.init_std == 0.5


def test_a_recorded_cost_is_the_agents_unless_given(own_checkpoint):
    assert make_agent(str(own_checkpoint), waypoints=False).cost == "all"
    write_planner_choice(own_checkpoint, "mppi", "test", {"cost": "min"})
    assert make_agent(str(own_checkpoint), waypoints=False).cost == "min"
    assert make_agent(str(own_checkpoint), planner="cem", waypoints=False).cost == "min"
    assert make_agent(str(own_checkpoint), waypoints=False, cost="terminal").cost == "terminal"


def test_no_file_or_no_settings_means_none(own_checkpoint):
    assert checkpoint_settings(own_checkpoint) == {}
    write_planner_choice(own_checkpoint, "cem", "test")
    assert "settings" not in json.loads((own_checkpoint / FILE_NAME).read_text())
    assert checkpoint_settings(own_checkpoint) == {}


@pytest.mark.parametrize("settings, message", [
    ('["substep_correlation"]', "settings must be an object"),
    ('{"temperature": 1.0}', "unknown setting 'temperature'; known: substep_correlation, horizon"),
    ('{"substep_correlation": 1.5}', r"substep_correlation must be a number in \[0.0, 0.999\], got 1.5"),
    ('{"substep_correlation": "0"}', "substep_correlation must be a number"),
    ('{"horizon": 2.5}', r"horizon must be an integer in \[1, 64\], got 2.5"),
    ('{"init_std": 0}', r"init_std must be a number in \[0.001, 10.0\], got 0"),
    ('{"horizon": true}', "horizon must be an integer"),
    ('{"num_samples": 0}', "num_samples must be an integer"),
    ('{"cost": "max"}', "cost must be one of all, terminal, readout, min, value, value_far, value_readout, got 'max'"),
    ('{"cost": 1}', "cost must be one of"),
    ('{"subgoals": "graph"}', "subgoals must be one of value, got 'graph'"),
    ('{"replan_steps": 0}', r"replan_steps must be an integer in \[1, 64\], got 0"),
])
def test_malformed_settings_are_one_clear_error(own_checkpoint, settings, message):
    (own_checkpoint / FILE_NAME).write_text(f'{{"planner": "mppi", "settings": {settings}}}')
    with pytest.raises(UserInputError, match=message):
        checkpoint_settings(own_checkpoint)
    with pytest.raises(UserInputError, match=message):
        make_agent(str(own_checkpoint), waypoints=False)


def test_choose_planner_counts_only_runs_made_with_the_setting(tmp_path, capsys):
    choose_planner = load_choose_planner()
    folder = tmp_path / "ckpt"
    folder.mkdir()

    def run(planner, successes, corr):
        summary = run_summary(planner, successes, folder)
        summary["settings"]["substep_correlation"] = corr
        return summary

    path = tmp_path / "runs.json"
    path.write_text(json.dumps([run("mppi", 30, 0.8), run("cem", 35, 0.8), run("mppi", 40, 0.0), run("cem", 34, 0.0)]))
    assert choose_planner.main(["--checkpoint", str(folder), "--setting", "substep_correlation=0", str(path)]) == 0
    choice = json.loads((folder / FILE_NAME).read_text())
    assert choice["planner"] == "mppi" and choice["settings"] == {"substep_correlation": 0.0}
    assert "mppi 40/50" in choice["evidence"] and "cem 34/50" in choice["evidence"]
    assert "runs made with substep_correlation 0.0" in choice["evidence"]
    assert "made with" in refused(capsys, choose_planner, ["--checkpoint", str(folder), "--setting",
                                                          "substep_correlation=0.5", str(path)])
    with pytest.raises(SystemExit):
        choose_planner.main(["--checkpoint", str(folder), "--setting", "temperature=1", str(path)])
    with pytest.raises(SystemExit):
        choose_planner.main(["--checkpoint", str(folder), "--setting", "cost=max", str(path)])


def test_choose_planner_records_a_cost_from_runs_made_with_it(tmp_path):
    choose_planner = load_choose_planner()
    folder = tmp_path / "ckpt"
    folder.mkdir()

    def run(planner, successes, cost):
        summary = run_summary(planner, successes, folder)
        summary["settings"]["cost"] = cost
        return summary

    path = tmp_path / "runs.json"
    path.write_text(json.dumps([run("mppi", 30, "all"), run("cem", 45, "all"), run("mppi", 46, "min"),
                                run("cem", 40, "min")]))
    assert choose_planner.main(["--checkpoint", str(folder), "--setting", "cost=min", str(path)]) == 0
    choice = json.loads((folder / FILE_NAME).read_text())
    assert choice["planner"] == "mppi" and choice["settings"] == {"cost": "min"}


@pytest.mark.parametrize("name", ["reacher", "pointmass", "tworoom", "cube", "pusht"])
def test_every_shipped_planning_file_is_one_the_agent_accepts(name):
    # The pusht file recorded cost value_readout while this check still listed the costs of its own.
    from agent.latent_cost import COSTS
    from agent.pretrained import shipped_checkpoints

    settings = checkpoint_settings(shipped_checkpoints()[name])
    assert settings.get("cost", "all") in COSTS
