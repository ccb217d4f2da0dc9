"""The README's gymnasium loop runs as printed, on the shipped model."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_block(marker: str) -> str:
    text = README.read_text()
    match = re.search(re.escape(marker) + r".*?```python\n(.*?)```", text, re.S)
    assert match, f"no python block after {marker!r} in README.md"
    return match.group(1)


@pytest.mark.slow
def test_readme_gym_loop_runs():
    code = readme_block("<!-- gym-loop")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert re.search(r"success: (True|False) max joint error \(rad\): \d", result.stdout)



def shell_commands(page: Path) -> list[str]:
    """Each `lewm-*` command line of a page's bash blocks, continuation lines joined."""
    shell = "\n".join(re.findall(r"```bash\n(.*?)```", page.read_text(), re.S)).replace("\\\n", " ")
    return [line.strip() for line in shell.splitlines() if line.strip().startswith("lewm-")]


def installed_commands() -> dict[str, str]:
    """Installed lewm-* console scripts: name -> module."""
    from importlib.metadata import entry_points

    return {e.name: e.value.split(":")[0] for e in entry_points(group="console_scripts") if e.name.startswith("lewm-")}


def test_readme_shell_commands_are_installed_and_parse():
    """Every command the README and the docs pages that took its sections tell a user to run is an installed
    command and takes the options it is given (parsed, not run: the runs themselves are tested in test_cube.py,
    test_pusht.py and the CLI tests)."""
    import importlib
    import shlex

    root = README.parent
    installed = installed_commands()
    pages = [README, *(root / "docs" / f"{name}.md" for name in ("own_environment", "evaluation", "interop",
                                                                 "training")),
             *sorted((root / "docs" / "tasks").glob("*.md"))]
    lines = [(page, line) for page in pages for line in shell_commands(page)]
    assert len(shell_commands(README)) >= 15 and len(lines) >= 25, lines
    for page, line in lines:
        line = re.sub(r'"\$\(cat ([^)]+)\)"', lambda m: shlex.quote((root / m.group(1)).read_text().strip()), line)
        args = shlex.split(line.replace('"$CAM"', "'{}'"), comments=True)
        assert args[0] in installed, f"{page.name} runs {args[0]}, which is not an installed command"
        build_parser = getattr(importlib.import_module(installed[args[0]]), "build_parser", None)
        if build_parser is not None:
            try:
                build_parser().parse_args(args[1:])
            except (SystemExit, Exception) as err:  # argparse exits; a replaced option is a UserInputError
                raise AssertionError(f"{page.name}: command does not parse ({err}): {line}") from None


def test_every_command_the_readme_names_is_installed():
    """No script paths and no commands the package lacks: `lewm-waypoints`, `lewm-ship`, ... are console scripts."""
    named = set(re.findall(r"(?<![\w/-])lewm-[a-z][a-z-]*[a-z]", README.read_text()))
    missing = sorted(named - set(installed_commands()))
    assert not missing, f"the README names commands that are not installed: {missing}"
