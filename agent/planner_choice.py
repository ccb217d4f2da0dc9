"""Which planner a checkpoint plans with by default: its own measured choice, or MPPI.

A checkpoint folder may hold ``planning.json``, ``{"planner": NAME, "evidence": TEXT}``, written after the
planners were compared on it (``lewm-eval --planner mppi --planner proposal ...``): the shipped cube model follows its
proposal policy (90/100 against 71/100 with MPPI), the Push-T model searches (58/100 against 26/50 for its
proposal alone). ``--planner auto`` (the default of ``lewm-plan`` and ``lewm-eval``) reads it; without it an agent
plans with MPPI.

It records ``"model_sha256"``, the weights digest of the model it was measured on: an agent refuses the file with
another model's weights (``world_model.model.model_identity``).

It may also hold ``"settings"``: settings measured better for this checkpoint than the agent's defaults
(``{"substep_correlation": 0.0, "cost": "min"}`` on Push-T, where independent per-step noise solved 200/250 pairs
against 183/250, and scoring a plan by its nearest predicted step 229/250 against 200/250). Planner settings apply
to every planner made by name for the checkpoint, the cost to the agent; a value the user passes wins.
"""

from __future__ import annotations

import json
from pathlib import Path

from agent.latent_cost import COSTS
from common.cli_errors import UserInputError

FILE_NAME = "planning.json"
DEFAULT_PLANNER = "mppi"
# What "settings" may set: make_agent's planner keyword arguments, each with its allowed range, and the agent's
# goal cost (AGENT_SETTINGS), with its allowed values (agent.latent_cost.COSTS).
SETTINGS = {"substep_correlation": (0.0, 0.999), "horizon": (1, 64), "num_samples": (2, 100_000),
            "init_std": (0.001, 10.0), "n_iters": (1, 1_000),
            "cost": COSTS, "replan_steps": (1, 64),
            "subgoals": ("value",)}
AGENT_SETTINGS = ("cost", "replan_steps", "subgoals")


def _read_choice(folder) -> dict | None:
    """``folder/planning.json`` as a dict holding at least ``planner``; None without the file.

    Raises:
        UserInputError: the file is not a JSON object with a ``planner`` key.
    """
    path = Path(folder) / FILE_NAME
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
        return {**record, "planner": record["planner"]}  # not an object: TypeError; no planner: KeyError
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserInputError(f"{path} is not a planner choice ({type(exc).__name__}); it should read "
                             f'{{"planner": "{DEFAULT_PLANNER}"}}, or delete it to plan with '
                             f"{DEFAULT_PLANNER}") from exc


def checkpoint_planner(folder, known: tuple[str, ...] | None = None) -> str:
    """The planner named by ``folder/planning.json`` (one of ``known``; default: the registered planners,
    ``planners.registry``), else ``DEFAULT_PLANNER``.

    Raises:
        UserInputError: the file is not JSON, has no ``planner`` string, or names an unknown planner.
    """
    record = _read_choice(folder)
    if record is None:
        return DEFAULT_PLANNER
    choice, path = record["planner"], Path(folder) / FILE_NAME
    if known is None:
        from planners.registry import planner_names

        known = tuple(planner_names())
    if choice not in known:
        raise UserInputError(f"{path} names planner {choice!r}; known: {', '.join(known)}")
    return choice


def checkpoint_settings(folder) -> dict:
    """The planner settings ``folder/planning.json`` records (``{}`` without the file or the key).

    Raises:
        UserInputError: ``settings`` is not an object of known names with values in their ranges (``SETTINGS``).
    """
    record = _read_choice(folder)
    settings, path = ({} if record is None else record.get("settings", {})), Path(folder) / FILE_NAME
    if not isinstance(settings, dict):
        raise UserInputError(f"{path}: settings must be an object such as {{\"substep_correlation\": 0.0}}")
    for name, value in settings.items():
        if name not in SETTINGS:
            raise UserInputError(f"{path}: unknown setting {name!r}; known: {', '.join(SETTINGS)}")
        if isinstance(SETTINGS[name][0], str):
            if value not in SETTINGS[name]:
                raise UserInputError(f"{path}: setting {name} must be one of {', '.join(SETTINGS[name])}, "
                                     f"got {value!r}")
            continue
        low, high = SETTINGS[name]
        integral = isinstance(low, int)
        if isinstance(value, bool) or not isinstance(value, int if integral else (int, float)) \
                or not low <= value <= high:
            kind = "an integer" if integral else "a number"
            raise UserInputError(f"{path}: setting {name} must be {kind} in [{low}, {high}], got {value!r}")
    return dict(settings)


def checkpoint_choice_model(folder) -> str | None:
    """The ``model_sha256`` that ``folder/planning.json`` records (the weights digest of the model it was measured
    on; see ``world_model.model.model_identity``); None when the file or the key is absent."""
    from world_model.model.model_identity import MODEL_KEY

    record = _read_choice(folder)
    return None if record is None else record.get(MODEL_KEY)


def write_planner_choice(folder, planner: str, evidence: str, settings: dict | None = None) -> Path:
    """Records ``planner`` as ``folder``'s default, with the measurement that chose it, and optionally the planner
    ``settings`` measured better for it (see ``SETTINGS``), tied to the checkpoint's weights (``model_sha256``: the
    digest its config.yaml records)."""
    from world_model import LeWMConfig
    from world_model.model.model_identity import MODEL_KEY

    path = Path(folder) / FILE_NAME
    config = Path(folder) / "config.yaml"
    sha = LeWMConfig.from_yaml(config).weights_sha256 if config.is_file() else None
    record = {"planner": planner, "evidence": evidence, **({"settings": settings} if settings else {}),
              **({MODEL_KEY: sha} if sha else {})}
    from common.io_utils import atomic_write_text

    atomic_write_text(path, json.dumps(record, indent=1) + "\n")
    checkpoint_settings(folder)  # refuse to leave a file behind that the agent would refuse
    return path
