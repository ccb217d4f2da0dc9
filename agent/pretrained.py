"""Shipped models by name, and building an agent from a checkpoint and a planner name."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from planners.registry import PLANNERS, planner_class  # noqa: F401 (PLANNERS: the one registry, re-exported)

# Planner settings the agent uses unless told otherwise: horizon 5, initial std 1, replanning every block with a
# warm start (the unexecuted tail of the last plan), so a warm replan needs fewer iterations than an episode's first
# plan. The sampling budget depends on what seeds the search (experiments/bench/realtime.md):
# - SEARCH_BUDGET (no proposal policy): LeWM's 300 samples, top 30; 15 iterations first, 5 per warm replan.
# - PROPOSAL_BUDGET (the checkpoint has proposal.safetensors, see world_model.policies.proposal): the policy's plan
#   starts the search and is a candidate in every iteration, so 64 samples (top 6), 4 iterations first and 2 per warm
#   replan keep the success of the search budget at about a tenth of its time.
PLANNER_DEFAULTS = dict(horizon=5, init_std=1.0, seed=0,
                        eval_final=False)  # the agent executes the plan; its cost would be one more rollout
SEARCH_BUDGET = dict(num_samples=300, n_iters=15, warm_iters=5)
PROPOSAL_BUDGET = dict(num_samples=64, n_iters=4, warm_iters=2)
# Correlation of the sampling noise across the frameskip env steps of an action block (see
# planners.SamplingPlanner): independent per-step noise averages out and the reacher never finds far goals.
SUBSTEP_CORRELATION = 0.8


def shipped_checkpoints() -> dict[str, Path]:
    """Names of the checkpoints shipped inside the ``world_model`` package, with their folders."""
    import world_model

    root = Path(world_model.__file__).parent / "checkpoints"
    return {p.name: p for p in sorted(root.glob("*")) if (p / "config.yaml").is_file()} if root.is_dir() else {}


def resolve_checkpoint(name_or_dir: str, task: str | None = None) -> Path:
    """A shipped name (``"reacher"``) or a checkpoint folder -> the folder; a clear error otherwise.

    A le-wm / stable-worldmodel checkpoint folder (``weights.pt`` + ``config.json``, or a ``*_weight.ckpt``) is
    converted on the fly (``world_model.interop``), for ``task`` or the task its path names.
    """
    shipped = shipped_checkpoints()
    if name_or_dir in shipped:
        return shipped[name_or_dir]
    from common.cli_errors import UserInputError
    from world_model.interop.lewm_files import converted_folder, is_their_folder

    path = Path(name_or_dir)
    if is_their_folder(path):
        return converted_folder(path, task=task)
    if path.is_dir():
        if not (path / "config.yaml").is_file() and (path / "model" / "config.yaml").is_file():
            raise UserInputError(f"{path} is a training run folder, not a checkpoint; use --checkpoint "
                                 f"{path / 'model'}")
        return path
    known = ", ".join(shipped) or "none"
    if path.is_file():
        raise UserInputError(f"checkpoint {name_or_dir!r} is a file; pass the folder that holds config.yaml and "
                             f"model.safetensors (or a shipped model: {known})")
    hint = ""
    from envs.registry import TASKS

    if name_or_dir in TASKS:  # one of our tasks whose shipped model was removed or not built
        hint = (f"; to train one: lewm-collect --env {name_or_dir} ..., lewm-train (README: Data and training), "
                f"then pass --checkpoint RUN/model")
    raise FileNotFoundError(f"no checkpoint {name_or_dir!r}: not a folder, and not a shipped model ({known}){hint}")


def checkpoint_for(task: str, checkpoint: str | None) -> str:
    """The checkpoint a command uses for ``task``: ``--checkpoint`` when given, else the task's shipped model; a
    user's gymnasium env has none, and is told where its model is."""
    import envs
    from common.cli_errors import UserInputError

    if checkpoint:
        return checkpoint
    if not envs.task_spec(task).is_builtin:
        raise UserInputError(f"{task} has no shipped model: train one (lewm-collect, then lewm-train) and pass "
                             f"--checkpoint RUN/model")
    return task


def import_for(checkpoint: str | None, module: str | None = None) -> None:
    """Imports the module the user named (``--import MODULE``), which registers a user's gymnasium id. A module a
    checkpoint records (``env_import`` in its config.yaml) is never imported: a file must not choose code to run.
    When the checkpoint names one that is not loaded, one line on stderr tells the user to pass it themselves."""
    import re
    import sys

    import envs
    from common.cli_checks import MODULE_NAME

    envs.import_env_module(module)
    recorded = _recorded_module(checkpoint)
    if recorded and recorded != module and recorded not in sys.modules:
        shown = recorded if len(recorded) <= 200 and re.fullmatch(MODULE_NAME, recorded) else None
        hint = (f"pass --import {shown} yourself if you trust it" if shown
                else "its value is not a module name, so it is ignored")
        prog = Path(sys.argv[0]).name if Path(sys.argv[0]).name.startswith("lewm-") else "lewm"
        print(f"{prog}: note: the checkpoint's env was registered by a module it names (env_import); a checkpoint "
              f"never imports code: {hint}", file=sys.stderr)


def _recorded_module(checkpoint: str | None) -> str:
    """The ``env_import`` text of a checkpoint folder's config.yaml ('' when none); read, never imported."""
    from world_model import LeWMConfig

    if not checkpoint or not (Path(checkpoint) / "config.yaml").is_file():
        return ""
    return str(LeWMConfig.from_yaml(Path(checkpoint) / "config.yaml").env_import or "")


def make_task_env(agent, task: str, tolerance: float | None = None, task_kwargs=None):
    """The env an agent plans in: ``task`` at the agent's image size, built as its checkpoint was trained (a
    user's gymnasium env with the recorded gym.make kwargs and angle joints; ``tolerance``: its state match;
    ``task_kwargs``: constructor arguments of one of our tasks)."""
    import envs

    cfg = agent.world_model.cfg
    return envs.make_task_env(task, agent.image_size, env_kwargs=cfg.env_kwargs, angle_qpos=cfg.angle_qpos,
                              success_tolerance=tolerance, task_kwargs=task_kwargs)


def resolve_device(device: str) -> torch.device:
    """The planners' device resolution, plus user-facing errors for an unknown device name (``auto``, ``cpu``,
    ``cuda`` or ``cuda:N``) and for CUDA asked for but absent."""
    from planners import resolve_device as planner_device
    from common.cli_errors import UserInputError

    if isinstance(device, str) and not re.fullmatch(r"auto|cpu|cuda(:\d+)?", device):
        raise UserInputError(f"--device must be auto, cpu, cuda or cuda:N, got {device!r}")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise UserInputError("--device cuda was asked for but CUDA is not available (use auto or cpu)")
    if str(device).startswith("cuda:") and int(str(device)[5:]) >= torch.cuda.device_count():
        raise UserInputError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return planner_device(device)


def make_planner(name: str, action_dim: int, action_low, action_high, device: torch.device, substeps: int = 1,
                 **settings):
    """A planner by its registered name (``planners.registry``) with the agent's defaults, overridden by
    ``settings``.

    ``substeps`` is the model's frameskip: the sampling noise is then correlated across a block's env steps
    (``SUBSTEP_CORRELATION`` unless ``substep_correlation`` is given).
    """
    cls = planner_class(name)  # ValueError naming the known planners
    settings = {k: v for k, v in settings.items() if v is not None}
    kwargs = {**PLANNER_DEFAULTS, "num_samples": SEARCH_BUDGET["num_samples"], "n_iters": SEARCH_BUDGET["n_iters"],
              "topk": 30, "substeps": substeps,
              "substep_correlation": SUBSTEP_CORRELATION if substeps > 1 else 0.0, **settings}
    if "topk" not in settings:  # keep the default elite fraction (30 of 300) for other sample counts
        kwargs["topk"] = min(kwargs["num_samples"], max(2, min(kwargs["topk"], kwargs["num_samples"] // 10)))
    return cls(action_dim=action_dim, action_low=action_low, action_high=action_high, device=device, **kwargs)


INTEGER_SETTINGS = ("num_samples", "n_iters", "warm_iters", "horizon", "topk", "seed", "receding_horizon",
                    "refine_steps", "replan_steps", "shift_steps")
NUMBER_SETTINGS = ("init_std", "min_std", "temperature", "noise_corr", "substep_correlation", "refine_lr", "momentum",
                   "alpha")
BOOL_SETTINGS = ("proposal_guard",)


def check_setting_types(settings: dict) -> None:
    """Counts are integers and rates are numbers (None: the default), so ``num_samples="64"`` is one clear error
    here rather than a TypeError deep inside a planner."""
    from common.cli_errors import UserInputError

    for key, value in settings.items():
        if value is None:
            continue
        if key in BOOL_SETTINGS and not isinstance(value, (bool, np.bool_)):
            raise UserInputError(f"{key} must be true or false, got {value!r} ({type(value).__name__})")
        is_int = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
        if key in INTEGER_SETTINGS and not is_int:
            raise UserInputError(f"{key} must be an integer, got {value!r} ({type(value).__name__})")
        if key in NUMBER_SETTINGS and not (is_int or isinstance(value, (float, np.floating))):
            raise UserInputError(f"{key} must be a number, got {value!r} ({type(value).__name__})")


def agent_parts(name_or_dir: str, planner="auto", device: str = "auto", receding_horizon: int = 1,
                cost: str | None = None, autocast: bool = False, warm_iters: int | None = None,
                task: str | None = None, waypoints="auto", precision: str = "auto", proposal="auto",
                refine_steps: int = 0, refine_lr: float = 0.1, compile_rollout: bool = False,
                replan_steps: int | None = None, subgoals="auto", trust_unverified: bool = False,
                value="auto", success_qpos=None, state_probe="auto", **planner_settings) -> tuple[dict, str]:
    """What :func:`agent.agent.make_agent` builds, before it is an agent: ``Agent``'s constructor arguments (the
    loaded model, the planner, the companion policies, the settings) and the planner's name (what ``"auto"``
    resolved to). The arguments, their defaults and errors are ``make_agent``'s; this module never imports
    ``agent.agent``, which imports it."""
    from agent.action_box import planner_box
    from world_model import LeWM

    check_setting_types({**planner_settings, "receding_horizon": receding_horizon, "warm_iters": warm_iters,
                         "refine_steps": refine_steps, "refine_lr": refine_lr, "replan_steps": replan_steps})
    from agent.planner_choice import AGENT_SETTINGS, checkpoint_choice_model, checkpoint_planner, checkpoint_settings
    from agent.planner_choice import FILE_NAME as CHOICE_FILE
    from world_model.model.model_identity import check_built_for

    folder = resolve_checkpoint(name_or_dir, task=task)
    dev = resolve_device(device)
    model = LeWM.load(folder, map_location=dev, trust_unverified=trust_unverified)
    _check_task(model, folder, task)
    identity = dict(model_sha256=model.checkpoint_sha256, trust_unverified=trust_unverified)
    if planner == "auto":
        planner = checkpoint_planner(folder)  # one of the registered planners
    measured = checkpoint_settings(folder)  # the checkpoint's measured settings, unless the caller gave their own
    if (folder / CHOICE_FILE).is_file():
        check_built_for(folder / CHOICE_FILE, checkpoint_choice_model(folder), what="planner choice",
                        how_to_rebuild="lewm-choose-planner", **identity)
    goal_value = load_value(value, folder, dev, **identity)
    cost = cost or measured.get("cost", "all")
    replan_steps = measured.get("replan_steps") if replan_steps is None else replan_steps
    subgoals = measured.get("subgoals", "auto") if subgoals == "auto" else subgoals
    from agent.latent_cost import VALUE_COSTS

    if cost in VALUE_COSTS and goal_value is None:
        if "cost" not in measured or value not in (False, None):
            raise ValueError(f"cost {cost!r} needs the checkpoint's goal value, and {folder} has none: train one "
                             f"with lewm-train-value, or choose another cost")
        cost = "all"  # the measured choice, switched off by the caller
    if isinstance(planner, str):
        for key, setting in measured.items():
            if key not in AGENT_SETTINGS and planner_settings.get(key) is None:
                planner_settings[key] = setting
    policy = load_proposal(proposal, folder, dev, **identity)
    horizon = planner.horizon if not isinstance(planner, str) else planner_settings.get("horizon") or \
        PLANNER_DEFAULTS["horizon"]
    if policy is not None and policy.horizon < horizon:  # a longer one gives its first `horizon` blocks
        if proposal != "auto":
            raise ValueError(f"the proposal policy plans {policy.horizon} blocks ahead, fewer than the planner's "
                             f"{horizon}: retrain it with lewm-train-proposal --horizon {horizon}, or plan without it")
        policy = None
    if isinstance(planner, str) and planner_class(planner).needs_proposal and policy is None:
        raise ValueError(f"planner {planner!r} follows the checkpoint's proposal policy, and {folder} has none for "
                         f"horizon {horizon}: train one with lewm-train-proposal, or choose another planner")
    budget = PROPOSAL_BUDGET if policy is not None else SEARCH_BUDGET
    name = planner if isinstance(planner, str) else type(planner).__name__
    if isinstance(planner, str):
        if planner_class(planner).shifts_between_plans:  # e.g. iCEM's kept elites, by the blocks executed
            within_block = replan_steps is not None and replan_steps < model.cfg.frameskip
            planner_settings.setdefault("shift_steps", 0 if within_block else receding_horizon)
        for key in ("num_samples", "n_iters"):
            if planner_settings.get(key) is None:
                planner_settings[key] = budget[key]
        low, high = planner_box(model)
        planner = make_planner(planner, model.cfg.action_block_dim, low, high, dev, substeps=model.cfg.frameskip,
                               **planner_settings)
    parts = dict(world_model=model, planner=planner, receding_horizon=receding_horizon, cost=cost, autocast=autocast,
                 warm_iters=budget["warm_iters"] if warm_iters is None else warm_iters,
                 waypoints=_subgoals_or_waypoints(subgoals, waypoints, folder, dev, goal_value=goal_value,
                                                  **identity),
                 precision=precision,
                 proposal=policy,
                 refine_steps=refine_steps, refine_lr=refine_lr, compile_rollout=compile_rollout,
                 replan_steps=replan_steps, value=goal_value, success_qpos=success_qpos,
                 state_probe=load_state_probe(state_probe, folder, dev, **identity))
    return parts, name

def _check_task(model, folder: Path, task: str | None) -> None:
    """A checkpoint names the task it was trained for (else it would plan in any env), and ``task`` (if given) is
    that one."""
    from common.cli_errors import UserInputError

    if not str(model.cfg.task or "").strip():
        raise UserInputError(f"checkpoint {folder}: its config.yaml names no task (task is empty), so it cannot say "
                             f"which env it plans in; set task: to the env it was trained on (e.g. task: reacher)")
    if task is not None and model.cfg.task != task:
        raise ValueError(f"checkpoint {folder} was trained for task {model.cfg.task!r}, not {task!r}")
    check_look(model.cfg, folder)


def check_look(cfg, folder) -> None:
    """A model plans only in an env that draws what it was trained on: a checkpoint whose ``look`` differs from
    its task env's (``envs.task_look``) is refused, naming both."""
    import envs
    from common.cli_errors import UserInputError

    try:
        look, note = envs.task_look(cfg.task)
    except envs.UnknownTaskError:
        return  # the task itself is reported where the env is made (e.g. a retired name, with where it went)
    if look and cfg.look != look:
        trained = f"the {cfg.look!r} look" if cfg.look else "images from before looks were recorded"
        raise UserInputError(f"checkpoint {folder} was trained on {trained}, but {envs.task_spec(cfg.task).env_id} "
                             f"now draws the {look!r} look ({note}); retrain it on data collected now "
                             f"(lewm-collect records the look), e.g. make {cfg.task}-model")


def load_proposal(proposal, folder: Path, device, model_sha256: str | None = None, trust_unverified: bool = False):
    """The ``ProposalPolicy`` that ``make_agent``'s ``proposal`` argument names (None for False/None); a file must
    have been trained for the model whose weights digest is ``model_sha256`` (None: not checked)."""
    from world_model.policies.proposal import FILE_NAME, ProposalPolicy

    return _optional_file(proposal, folder, FILE_NAME, ProposalPolicy,
                          lambda path: ProposalPolicy.load(path, map_location=device), "proposal file",
                          "lewm-train-proposal", model_sha256, trust_unverified)


def load_value(value, folder: Path, device, model_sha256: str | None = None, trust_unverified: bool = False):
    """The ``GoalValue`` that ``make_agent``'s ``value`` argument names (None for False/None); checked against
    ``model_sha256`` as :func:`load_proposal`."""
    from world_model.policies.value import FILE_NAME, GoalValue

    return _optional_file(value, folder, FILE_NAME, GoalValue, lambda path: GoalValue.load(path, map_location=device),
                          "goal value file", "lewm-train-value", model_sha256, trust_unverified)


def load_state_probe(probe, folder: Path, device, model_sha256: str | None = None, trust_unverified: bool = False):
    """The ``StateProbe`` that ``make_agent``'s ``state_probe`` argument names (None for False/None); checked
    against ``model_sha256`` as :func:`load_proposal`."""
    from world_model.policies.state_probe import FILE_NAME, StateProbe

    return _optional_file(probe, folder, FILE_NAME, StateProbe, lambda path: StateProbe.load(path, map_location=device),
                          "state probe file", "lewm-train-probe", model_sha256, trust_unverified)


def load_subgoals(subgoals, folder: Path, device, model_sha256: str | None = None, trust_unverified: bool = False):
    """The ``SubgoalPolicy`` that ``make_agent``'s ``subgoals`` argument names (None for False/None); checked
    against ``model_sha256`` as :func:`load_proposal`."""
    from world_model.policies.subgoal import FILE_NAME, SubgoalPolicy

    return _optional_file(subgoals, folder, FILE_NAME, SubgoalPolicy,
                          lambda path: SubgoalPolicy.load(path, map_location=device), "subgoal file",
                          "lewm-train-subgoal", model_sha256, trust_unverified)


def _subgoals_or_waypoints(subgoals, waypoints, folder: Path, device, model_sha256: str | None = None,
                           trust_unverified: bool = False, goal_value=None):
    """What the agent aims each replan at on the way to a far goal: the subgoal policy when one is chosen,
    else the waypoint graph, else None (straight at the goal). Both asked for explicitly is an error.
    ``subgoals="value"``: the data frames of the checkpoint's waypoint file ranked by the goal value
    (``agent.value_subgoals``), which must be loaded (``goal_value``)."""
    identity = dict(model_sha256=model_sha256, trust_unverified=trust_unverified)
    if subgoals == "value":
        return _value_subgoals(goal_value, waypoints, folder, identity)
    explicit = lambda choice: choice not in ("auto", None, False)  # noqa: E731
    if explicit(subgoals) and explicit(waypoints):
        raise ValueError("choose a subgoal policy or a waypoint graph, not both (pass waypoints=False or "
                         "subgoals=False; --no-waypoints / --no-subgoals)")
    high_level = load_subgoals(subgoals, folder, device, **identity)
    return high_level if high_level is not None else load_waypoints(waypoints, folder, **identity)


def _value_subgoals(goal_value, waypoints, folder: Path, identity: dict):
    """``agent.value_subgoals.ValueSubgoals`` over the checkpoint's subgoal frames (``agent.subgoal_frames``), or,
    without them or when a waypoint file is named, over the nodes of the waypoint file ``waypoints`` names (the
    checkpoint's ``waypoints.npz`` unless a file is given)."""
    from agent.subgoal_frames import FILE_NAME, HOW_TO_BUILD, SubgoalFrames
    from agent.value_subgoals import ValueSubgoals

    if goal_value is None:
        raise ValueError("value subgoals rank data frames by the checkpoint's goal value, and none is loaded: train "
                         "one with lewm-train-value")
    named_graph = waypoints not in ("auto", None, False, True)
    frames = None if named_graph else _optional_file(
        "auto", folder, FILE_NAME, SubgoalFrames, SubgoalFrames.load, "subgoal frames file",
        HOW_TO_BUILD, **identity)
    if frames is not None:
        return frames.high_level(goal_value)
    if not named_graph and not (folder / "waypoints.npz").exists():
        raise ValueError(f"value subgoals pick data frames, and {folder} has neither {FILE_NAME} nor waypoints.npz: "
                         f"build the frames with {HOW_TO_BUILD}")
    graph = load_waypoints(True if not named_graph else waypoints, folder, **identity)
    return ValueSubgoals(goal_value, graph.nodes)


def load_waypoints(waypoints, folder: Path, model_sha256: str | None = None, trust_unverified: bool = False):
    """The ``WaypointGraph`` that ``make_agent``'s ``waypoints`` argument names (None for False/None); checked
    against ``model_sha256`` as :func:`load_proposal`."""
    from agent.waypoints import FILE_NAME, WaypointGraph

    return _optional_file(waypoints, folder, FILE_NAME, WaypointGraph, WaypointGraph.load, "waypoint file",
                          "lewm-waypoints", model_sha256, trust_unverified)


def _optional_file(choice, folder: Path, file_name: str, kind: type, load, what: str, how_to_build: str,
                   model_sha256: str | None = None, trust_unverified: bool = False):
    """A checkpoint's optional companion file by ``choice``: False/None -> None; an instance of ``kind`` as is;
    ``"auto"`` -> ``folder/file_name`` when it exists; True -> that file, required; else a path to one.

    A file read from disk must record ``model_sha256`` (the weights digest of the model it was built for;
    ``world_model.model.model_identity``); an object passed in is the caller's own and is not checked."""
    from world_model.model.model_identity import check_built_for

    if choice is None or choice is False:
        return None
    if isinstance(choice, kind):
        return choice
    if choice == "auto":
        path = Path(folder) / file_name
        if not path.exists():
            return None
    else:
        path = Path(folder) / file_name if choice is True else Path(choice)
        if not path.exists():
            raise ValueError(f"no {what} {path}; build one with {how_to_build}")
    loaded = load(path)
    check_built_for(path, getattr(loaded, "model_sha256", None), model_sha256, what, how_to_build, trust_unverified)
    return loaded
