"""Every lewm-* command's --help: plain text (no reStructuredText backticks), each default said once (no
"(default: None)" after a text that states its default), every option explained, usage examples at the end."""

import importlib
import re
from pathlib import Path

import pytest

COMMANDS = {"lewm-plan": "agent.cli_plan", "lewm-eval": "agent.cli_eval", "lewm-collect": "agent.cli_collect",
            "lewm-train": "world_model.training.train", "lewm-train-proposal": "world_model.policies.train_proposal",
            "lewm-train-subgoal": "world_model.policies.train_subgoal", "lewm-check-data": "world_model.data.check_data",
            "lewm-waypoints": "agent.cli_waypoints", "lewm-ship": "world_model.model.ship",
            "lewm-choose-planner": "agent.cli_choose_planner", "lewm-merge": "agent.cli_merge"}
ROOT = Path(__file__).resolve().parent.parent


def parser(command):
    return importlib.import_module(COMMANDS[command]).build_parser()


@pytest.mark.parametrize("command", COMMANDS)
def test_help_is_plain_text_with_each_default_once(command, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    text = parser(command).format_help()
    assert "`" not in text
    assert "(default: None)" not in text and "(default: False)" not in text and "(default: [])" not in text
    p = parser(command)
    formatter = p._get_formatter()
    for action in p._actions:  # a text that states its default gets no second "(default: ...)"
        if action.help and "default" in action.help.lower():
            assert formatter._get_help_string(action) == action.help, action.option_strings
    assert f"examples:\n  {command} " in text


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_is_explained(command):
    silent = [a.option_strings for a in parser(command)._actions if a.option_strings and not a.help]
    assert not silent, f"options without help: {silent}"


def test_a_stated_default_is_shown(monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    text = re.sub(r"\s+", " ", parser("lewm-plan").format_help())
    assert "seed of the start pose (and of --make-goal's pose) (default: 0)" in text


def test_train_config_help_names_configs_that_exist():
    from world_model.training.train import STARTING_CONFIGS

    names = [n.strip() for group in STARTING_CONFIGS for n in group.split(",")]
    assert len(names) >= 6
    assert all((ROOT / "experiments" / "configs" / n).is_file() for n in names), names
    assert "gym_reacher_v5.yaml" in parser("lewm-train").format_help()


def test_lewm_plan_takes_the_cost_the_readme_documents():
    readme = (ROOT / "README.md").read_text()
    assert "`--cost min`" in readme
    for command in ("lewm-plan", "lewm-eval"):
        args = parser(command).parse_args(["--env", "pusht", "--goal", "g.png", "--cost", "min"] if command ==
                                          "lewm-plan" else ["--env", "pusht", "--cost", "min"])
        assert args.cost == "min"
