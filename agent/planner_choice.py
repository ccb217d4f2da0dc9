"""Which planner a checkpoint plans with by default: its own measured choice, or MPPI.

A checkpoint folder may hold ``planning.json``, ``{"planner": NAME, "evidence": TEXT}``, written after the
planners were compared on it (``lewm-eval --planner mppi --planner proposal ...``): the shipped cube model follows its
proposal policy (90/100 against 71/100 with MPPI), the Push-T model searches (58/100 against 26/50 for its
proposal alone). ``--planner auto`` (the default of ``lewm-plan`` and ``lewm-eval``) reads it; without it an agent
plans with MPPI.
"""

from __future__ import annotations

import json
from pathlib import Path

from world_model.cli_errors import UserInputError

FILE_NAME = "planning.json"
DEFAULT_PLANNER = "mppi"


def checkpoint_planner(folder, known: tuple[str, ...]) -> str:
    """The planner named by ``folder/planning.json`` (one of ``known``), else ``DEFAULT_PLANNER``.

    Raises:
        UserInputError: the file is not JSON, has no ``planner`` string, or names an unknown planner.
    """
    path = Path(folder) / FILE_NAME
    if not path.is_file():
        return DEFAULT_PLANNER
    try:
        choice = json.loads(path.read_text())["planner"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserInputError(f"{path} is not a planner choice ({type(exc).__name__}); it should read "
                             f'{{"planner": "{DEFAULT_PLANNER}"}}, or delete it to plan with {DEFAULT_PLANNER}') from exc
    if choice not in known:
        raise UserInputError(f"{path} names planner {choice!r}; known: {', '.join(known)}")
    return choice


def write_planner_choice(folder, planner: str, evidence: str) -> Path:
    """Records ``planner`` as ``folder``'s default, with the measurement that chose it."""
    path = Path(folder) / FILE_NAME
    path.write_text(json.dumps({"planner": planner, "evidence": evidence}, indent=1) + "\n")
    return path
