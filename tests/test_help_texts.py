"""Every lewm-* command's --help: plain text (no reStructuredText backticks), each default said once (no
"(default: None)" after a text that states its default), every option explained, usage examples at the end;
options in groups, the essentials first, each option once; a replaced option fails with one line naming its
replacement; lists and budgets read from where the code keeps them, never written out by hand."""

import importlib
import re
from pathlib import Path

import pytest

COMMANDS = {"lewm-plan": "agent.cli_plan", "lewm-eval": "agent.cli_eval", "lewm-collect": "agent.cli_collect",
            "lewm-train": "world_model.training.train", "lewm-train-proposal": "world_model.policies.train_proposal",
            "lewm-train-subgoal": "world_model.policies.train_subgoal",
            "lewm-check-data": "world_model.data.check_data",
            "lewm-waypoints": "agent.cli_waypoints", "lewm-ship": "world_model.model.ship",
            "lewm-choose-planner": "agent.cli_choose_planner", "lewm-merge": "agent.cli_merge",
            "lewm-train-value": "world_model.policies.train_value",
            "lewm-train-probe": "world_model.policies.train_state_probe", "lewm-import": "world_model.interop.cli",
            "lewm-export": "world_model.interop.cli"}
BUILDERS = {"lewm-import": "build_import_parser", "lewm-export": "build_export_parser"}  # else build_parser
MAINS = {"lewm-import": "import_main", "lewm-export": "export_main"}  # else main
ROOT = Path(__file__).resolve().parent.parent


def parser(command):
    return getattr(importlib.import_module(COMMANDS[command]), BUILDERS.get(command, "build_parser"))()


def command_main(command):
    return getattr(importlib.import_module(COMMANDS[command]), MAINS.get(command, "main"))


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


def test_lewm_plan_takes_the_costs_the_readme_documents():
    import re

    documented = set(re.findall(r"`--cost (\w+)`", (ROOT / "README.md").read_text()))
    assert {"min", "value", "value_far", "all"} <= documented
    for cost in documented:
        for command in ("lewm-plan", "lewm-eval"):
            args = parser(command).parse_args(["--env", "pusht", "--goal", "g.png", "--cost", cost] if command ==
                                              "lewm-plan" else ["--env", "pusht", "--cost", cost])
            assert args.cost == cost


# ---- groups: the essentials first, each option once


def sections(text: str) -> list[tuple[str, list[str]]]:
    """(title, option names) of each group of a --help text, in order; the usage, description and examples
    are not groups."""
    found = []
    for block in text.split("\n\n"):
        lines = block.splitlines()
        group = len(lines) > 1 and all(line.startswith("  ") for line in lines[1:])
        if not group or not re.fullmatch(r"[a-z].*:", lines[0]) or lines[0] == "examples:":
            continue
        names = [name for line in lines[1:] if re.match(r"  \S", line)
                 for name in re.findall(r"(?:^|, )(-{1,2}[\w-]+|[A-Z_]+|[a-z_]+)(?=[ ,\[]|$)", line[2:].split("  ")[0])]
        found.append((lines[0][:-1], names))
    return found


@pytest.mark.parametrize("command", COMMANDS)
def test_help_is_in_groups_with_the_essentials_first(command, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    groups = sections(parser(command).format_help())
    titles = [title for title, _ in groups]
    assert titles[0] == "essentials", titles
    assert len(titles) >= 2, f"{command}: one group only ({titles})"
    assert "-h" in groups[0][1] and "options" not in titles and "positional arguments" not in titles, titles
    advanced = [i for i, t in enumerate(titles) if t.startswith("advanced")]
    assert advanced == sorted(advanced) and all(titles[i].startswith("advanced: ") for i in advanced), titles


@pytest.mark.parametrize("command", COMMANDS)
def test_no_option_is_listed_twice(command, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    p = parser(command)
    names = [name for _, group in sections(p.format_help()) for name in group]
    assert len(names) == len(set(names)), [n for n in names if names.count(n) > 1]
    shown = {s for a in p._actions if a.help != "==SUPPRESS==" for s in a.option_strings}
    assert shown <= set(names), shown - set(names)  # every option is in a group
    dests = [a.dest for a in p._actions if a.help != "==SUPPRESS==" and a.dest != "help"]
    assert len(dests) == len(set(dests)), f"two options set one thing: {[d for d in dests if dests.count(d) > 1]}"


def test_lewm_plan_shows_at_most_15_options_before_the_advanced_ones(monkeypatch):
    """Counted as --help lists them: one entry per option (-h/--help and --proposal/--no-proposal are one each)."""
    monkeypatch.setenv("COLUMNS", "120")
    p = parser("lewm-plan")
    groups = [[a for a in g._group_actions if a.help != "==SUPPRESS=="] for g in p._action_groups]
    titles = [g.title for g, shown in zip(p._action_groups, groups) if shown]
    groups = [shown for shown in groups if shown]
    first = [i for i, title in enumerate(titles) if title.startswith("advanced")][0]
    before = [a.option_strings[0] for shown in groups[:first] for a in shown]
    assert 10 <= len(before) <= 15, before
    speed = dict(sections(p.format_help()))["advanced: search speed"]
    assert {"--samples", "--iters", "--warm-iters", "--precision", "--compile", "--threads"} <= set(speed), speed


# ---- replaced options: one line naming the replacement

REMOVED = [  # command, the old form, the message; the other arguments would fail at once with another message
    ("lewm-plan", ["--bf16"], "--bf16 was replaced by --precision bf16"),
    ("lewm-plan", ["--waypoint-file", "graph.npz"], "--waypoint-file was replaced by --waypoints FILE"),
    ("lewm-plan", ["--value-subgoals"], "--value-subgoals was replaced by --subgoals value"),
    ("lewm-eval", ["--bf16"], "--bf16 was replaced by --precision bf16"),
    ("lewm-eval", ["--waypoint-file", "graph.npz"], "--waypoint-file was replaced by --waypoints FILE"),
    ("lewm-eval", ["--value-subgoals"], "--value-subgoals was replaced by --subgoals value"),
]


@pytest.mark.parametrize("command, old, message", REMOVED, ids=[f"{c} {o[0]}" for c, o, _ in REMOVED])
def test_a_replaced_option_fails_with_one_line_naming_the_new_form(command, old, message, capsys, tmp_path):
    fails_fast = {"lewm-plan": ["--goal", str(tmp_path / "none.png")], "lewm-eval": ["--env", "no_such_task"]}
    assert command_main(command)([*fails_fast[command], *old]) == 2
    assert capsys.readouterr().err == f"{command}: error: {message}\n"
    assert old[0] not in parser(command).format_help()


@pytest.mark.parametrize("argv, waypoints, subgoals", [
    ([], "auto", "auto"), (["--waypoints"], True, "auto"), (["--no-waypoints"], False, "auto"),
    (["--subgoals"], "auto", True), (["--subgoals", "value"], "auto", "value"), (["--no-subgoals"], "auto", False)])
def test_the_forms_that_replaced_them(argv, waypoints, subgoals):
    from agent.cli_common import speed_settings, waypoint_choice

    args = parser("lewm-plan").parse_args(["--goal", "g.png", *argv])
    assert (waypoint_choice(args), speed_settings(args)["subgoals"]) == (waypoints, subgoals)


@pytest.mark.parametrize("argv, words", [
    (["--waypoints", "graph.npz", "--no-waypoints"], "--waypoints given twice, or with --no-waypoints: choose one"),
    (["--subgoals", "--subgoals", "value"], "--subgoals given twice, or with --no-subgoals: choose one"),
    (["--no-subgoals", "value"], "--no-subgoals takes no value (got 'value')")])
def test_one_form_at_a_time(argv, words, capsys):
    assert command_main("lewm-eval")(["--env", "no_such_task", *argv]) == 2
    assert capsys.readouterr().err == f"lewm-eval: error: {words}\n"


# ---- lists and budgets read from where the code keeps them


def test_planner_choices_are_the_registry(monkeypatch):
    from planners import registry

    monkeypatch.setitem(registry.PLANNERS, "toy", registry.PLANNERS["mppi"])
    for command in ("lewm-plan", "lewm-eval"):
        (planner,) = [a for a in parser(command)._actions if "--planner" in a.option_strings]
        assert planner.choices == ["auto", *registry.planner_names()] and "toy" in planner.choices


def test_budgets_are_the_tasks_own(monkeypatch):
    """What the help says is what each task declares (its TaskDefaults), not a copy."""
    from envs.registry import TaskSpec
    from envs.task import TaskDefaults

    monkeypatch.setattr(TaskSpec, "defaults", property(lambda spec: TaskDefaults(
        spec.max_episode_steps, free_budget=spec.free_budget + 1, lewm_budget=17)))
    monkeypatch.setenv("COLUMNS", "120")
    plan = re.sub(r"\s+", " ", parser("lewm-plan").format_help())
    evaluate = re.sub(r"\s+", " ", parser("lewm-eval").format_help())
    assert "free-goal budget: reacher 201, pointmass 301, tworoom 201," in plan
    assert "default: 17 for lewm; for free the task's own budget: reacher 201, pointmass 301," in evaluate
    assert "held-out start/goal pairs, 17 env steps" in evaluate


def test_collect_lists_every_data_policy(monkeypatch):
    from envs.policies import POLICIES

    monkeypatch.setenv("COLUMNS", "120")
    text = re.sub(r"\s+", " ", parser("lewm-collect").format_help())
    assert all(f"{name} (" in text for name in POLICIES), POLICIES
