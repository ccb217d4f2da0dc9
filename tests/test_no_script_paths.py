"""No message or help text of the installed packages names a script of experiments/ (an installed package has
none): every string literal in agent/, envs/, planners/, world_model/ and common/ except docstrings, plus the module
docstring of each console command (its --help)."""
import ast
import configparser
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("agent", "envs", "planners", "world_model", "common")
SCRIPT = re.compile(r"experiments/\S*\.(py|sh)\b")


def command_modules() -> set[str]:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    lines = cfg["options.entry_points"]["console_scripts"].strip().splitlines()
    return {line.split("=")[1].split(":")[0].strip() for line in lines if "=" in line}


def user_strings(path: Path, is_command: bool) -> list[str]:
    """The string literals of ``path`` a user can see: all but docstrings, and the module docstring of a command."""
    tree = ast.parse(path.read_text())
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and not (is_command and isinstance(node, ast.Module)):
                docstrings.add(id(first.value))
    return [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)
            and isinstance(node.value, str) and id(node) not in docstrings]


def offenders(paths, commands, root: Path = ROOT) -> list[str]:
    found = []
    for path in paths:
        module = ".".join(path.relative_to(root).with_suffix("").parts)
        for text in user_strings(path, module in commands):
            found += [f"{path.relative_to(root)}: {m.group(0)}" for m in SCRIPT.finditer(text)]
    return found


def test_no_package_string_names_an_experiments_script():
    paths = [p for top in PACKAGES for p in sorted((ROOT / top).rglob("*.py"))]
    found = offenders(paths, command_modules())
    assert not found, "name the installed command instead:\n" + "\n".join(found)


def test_a_planted_message_is_caught(tmp_path):
    planted = tmp_path / "agent" / "planted.py"
    planted.parent.mkdir()
    planted.write_text('"""Docstrings may cite experiments/bench/x.py."""\n'
                       'def f():\n    raise ValueError("rebuild it with experiments/cube/y.py")\n')
    assert offenders([planted], set(), tmp_path) == ["agent/planted.py: experiments/cube/y.py"]
    assert len(offenders([planted], {"agent.planted"}, tmp_path)) == 2  # a command's docstring is its help


def test_every_tool_command_is_installed():
    from importlib.metadata import entry_points

    names = {ep.name for ep in entry_points(group="console_scripts")}
    assert {"lewm-waypoints", "lewm-ship", "lewm-choose-planner", "lewm-merge"} <= names


@pytest.mark.parametrize("script, command", [("build_waypoints", "lewm-waypoints"), ("ship_checkpoint", "lewm-ship"),
                                             ("choose_planner", "lewm-choose-planner"), ("merge_parts", "lewm-merge")])
def test_a_script_that_became_a_command_names_it(script, command):
    """The old README ran these scripts; run now, each fails in one line naming its command."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, str(ROOT / "experiments" / f"{script}.py"), "--help"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and f"replaced by the command {command}" in done.stderr
