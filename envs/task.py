"""The task contract: every hook an agent, a collection or an evaluation uses on a task's env, in one place.

A task env is a gymnasium env with image observations whose episodes start and end at exact states:

    env.reset(options={"state": qpos_then_qvel, "goal_state": goal_qpos})  # -> (frame, info with info["goal"])

Every task here (reacher, pointmass, tworoom, pusht, cube, and any gymnasium id behind ``envs.gym_task``)
implements :class:`Task`; :class:`TaskBase` gives the optional hooks their defaults. Check your own env with

    from envs.task import check_task
    check_task(MyEnv())        # raises TaskContractError naming every missing or wrong hook; else returns None

Per-task budgets and defaults are data (:class:`TaskDefaults`, ``envs.task_spec(name).defaults``), so commands read
them instead of repeating them in help texts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

# The LeWM paper's evaluation protocol: the goal is the state this many env steps later on a held-out
# trajectory, and the agent gets this many env steps to reach it.
LEWM_GOAL_OFFSET = 25
LEWM_BUDGET = 50


@dataclass(frozen=True)
class TaskDefaults:
    """A task's budgets in env steps, and the env settings of its free-goal suite.

    Attributes:
        episode_steps: the gymnasium time limit of an episode (collection, ``gym.make``).
        free_budget: env steps an agent gets in the free-goal suite (and ``lewm-plan``'s default): enough to go
            corner to corner and settle.
        lewm_budget: env steps an agent gets in the LeWM protocol (``LEWM_BUDGET``).
        lewm_goal_offset: how many env steps after the start the LeWM protocol's goal is (``LEWM_GOAL_OFFSET``).
        free_env_kwargs: constructor arguments of the env in the free suite, as (name, value) pairs.
    """

    episode_steps: int
    free_budget: int = 200
    lewm_budget: int = LEWM_BUDGET
    lewm_goal_offset: int = LEWM_GOAL_OFFSET
    free_env_kwargs: tuple = ()

    def budget(self, suite: str) -> int:
        """Env steps per episode of a suite: ``lewm`` or ``free``."""
        if suite not in ("lewm", "free"):
            raise ValueError(f"unknown suite {suite!r}; known: lewm, free")
        return self.lewm_budget if suite == "lewm" else self.free_budget


class TaskContractError(ValueError):
    """An env does not implement the task contract (the message names every missing or wrong hook)."""


@runtime_checkable
class Task(Protocol):
    """What an agent, a collection and an evaluation use on a task env (the unwrapped env of ``envs.make``).

    Facts:
        nq, nv: sizes of the physical state (``qpos``, ``qvel``); 0 when the env has none.
        action_repeat: physics steps per env step. step_seconds: simulated seconds per env step (None: unknown).
        angle_qpos: the indices of ``qpos`` that are angles (they wrap). error_unit: unit of ``info["error"]`` and
            ``success_tolerance`` (``"rad"``, ``"m"``, ``"px"``). look: the name of what the images look like ("" if
            it never changed; a model trained on another look must not plan in it). samples_goals: whether
            ``sample_state`` / ``sample_goal_state`` / ``free_pair`` work (the free suite needs them).
        Optional (``TaskBase`` has the default): success_qpos, the indices of ``qpos`` that ``is_success`` reads,
            ``()`` for all of them; the agent's readout costs count only those (the cube task: the cube's, not
            the arm's).

    Hooks (states are float arrays: ``qpos`` (nq,), a start ``qpos`` then ``qvel`` (nq + nv,)):
        reset(seed=, options={"state", "goal_state"}) -> (obs, info); step(action) -> gymnasium's 5-tuple; every
            ``info`` holds ``goal`` (the goal image), ``success``, ``is_success``, ``qpos``, ``qvel`` and, with a
            goal state, ``goal_qpos`` and ``error`` (per entry, ``error_unit``).
        as_state(state, name) -> (qpos, qvel): a user-given state split and checked (ValueError naming ``name``).
        state_problem(qpos, qvel) -> why the state is not one of the task's world, or None.
        render_state(qpos) -> the image of a configuration, uint8 (H, W, 3), leaving the env as it was.
        sample_state(rng), sample_goal_state(rng) -> qpos; free_pair(rng, index) -> (start, goal): the free suite.
        state_error(qpos, goal_qpos) -> per-entry error; is_success(qpos, goal_qpos) -> bool.
        report_metrics(start_info, info) -> the task's own measures of an episode from the ``info`` of its reset and
            of its last step: numbers are averaged over a run's episodes; a bool tags the episode as one of a group
            whose success a run reports apart (tworoom: ``cross_room``).
        success_words() -> what ``success`` means when the task lets one choose (pusht); "" otherwise.
    """

    nq: int
    nv: int
    action_repeat: int
    angle_qpos: tuple
    error_unit: str
    success_tolerance: float
    look: str
    samples_goals: bool

    @property
    def step_seconds(self) -> float | None: ...

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple: ...

    def step(self, action) -> tuple: ...

    def close(self) -> None: ...

    def as_state(self, state: Any, name: str) -> tuple[np.ndarray, np.ndarray]: ...

    def state_problem(self, qpos, qvel) -> str | None: ...

    def render_state(self, qpos) -> np.ndarray: ...

    def sample_state(self, rng: np.random.Generator) -> np.ndarray: ...

    def sample_goal_state(self, rng: np.random.Generator) -> np.ndarray: ...

    def free_pair(self, rng: np.random.Generator, index: int) -> tuple[np.ndarray, np.ndarray]: ...

    def state_error(self, qpos, goal_qpos) -> np.ndarray: ...

    def is_success(self, qpos, goal_qpos) -> bool: ...

    def report_metrics(self, start_info: dict, info: dict) -> dict: ...

    def success_words(self) -> str: ...


def split_state(state: Any, nq: int, nv: int, name: str, expected: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A user-given state -> (qpos (nq,), qvel (nv,)), float64 copies; accepts qpos alone (qvel zero) or qpos then
    qvel. ``name`` and ``expected`` (what the sizes mean; default "NQ values (qpos) or NQ+NV (qpos then qvel)") word
    the ValueError for another size or a non-finite value."""
    arr = np.asarray(state, dtype=np.float64).reshape(-1)
    if arr.shape[0] not in (nq, nq + nv):
        expected = expected or f"{nq} values (qpos) or {nq + nv} (qpos then qvel)"
        raise ValueError(f"{name} must have {expected}, got {arr.shape[0]}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {arr.tolist()}")
    qvel = arr[nq:] if arr.shape[0] > nq else np.zeros(nv)
    return arr[:nq].copy(), qvel.copy()


class TaskBase:
    """Defaults of the optional hooks of :class:`Task`; a task class lists it among its bases."""

    action_repeat: int = 1
    angle_qpos: tuple = ()
    error_unit: str = ""
    success_tolerance: float = 0.0
    look: str = ""
    look_note: str = ""
    samples_goals: bool = True
    success_qpos: tuple = ()  # the qpos indices is_success reads; () = all

    @property
    def step_seconds(self) -> float | None:
        """Simulated seconds per env step; None when the env does not say."""
        return None

    def as_state(self, state: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
        """A user-given state -> (qpos (nq,), qvel (nv,)): qpos alone (qvel zero) or qpos then qvel; ValueError
        naming ``name`` for another size or a non-finite value."""
        return split_state(state, self.nq, self.nv, name)

    def sample_goal_state(self, rng: np.random.Generator) -> np.ndarray:
        """The free suite's goal (nq,): a random reachable configuration (``sample_state``)."""
        return self.sample_state(rng)

    def free_pair(self, rng: np.random.Generator, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Episode ``index`` of the free suite: a random start at rest (``sample_state`` then zero velocities,
        (nq + nv,)) and the free goal (``sample_goal_state``, (nq,))."""
        start = self.sample_state(rng)
        return np.concatenate([start, np.zeros(self.nv)]), self.sample_goal_state(rng)

    def report_metrics(self, start_info: dict, info: dict) -> dict:
        """The task's own measures of an episode (see :class:`Task`); none by default."""
        return {}

    def success_words(self) -> str:
        """What ``success`` means, when the task lets one choose; "" by default."""
        return ""


# ----- check_task --------------------------------------------------------------------------------------------------
FACTS = {"nq": int, "nv": int, "action_repeat": int, "angle_qpos": tuple, "error_unit": str,
         "success_tolerance": float, "look": str, "samples_goals": bool}
HOOKS = ("reset", "step", "close", "as_state", "state_problem", "render_state", "sample_state", "sample_goal_state",
         "free_pair", "state_error", "is_success", "report_metrics", "success_words")
INFO_KEYS = ("goal", "success", "is_success", "qpos", "qvel")


KIND_WORDS = {int: "an integer", float: "a number", tuple: "a tuple of qpos indices", str: "a str", bool: "a bool"}


def _missing(name: str, what: str) -> str:
    """The line for a missing hook, pointing at ``TaskBase`` where it has a default."""
    default = " (envs.task.TaskBase has a default)" if hasattr(TaskBase, name) else ""
    return f"{name}: missing, {what}{default}"


def _fact_problem(env, name: str, kind: type) -> str | None:
    if not _has(env, name):
        return _missing(name, f"should be {KIND_WORDS[kind]}")
    value = _read(env, name)
    if kind is int and not (isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 0):
        return f"{name}: must be an integer >= 0, got {value!r}"
    if kind is float and not (isinstance(value, (int, float, np.number)) and np.isfinite(value) and value >= 0):
        return f"{name}: must be a finite number >= 0, got {value!r}"
    if kind is tuple and not (isinstance(value, (tuple, list))
                              and all(isinstance(i, (int, np.integer)) for i in value)):
        return f"{name}: must be a tuple of qpos indices, got {value!r}"
    if kind in (str, bool) and not isinstance(value, kind):
        return f"{name}: must be a {kind.__name__}, got {value!r}"
    return None


def _has(env, name: str) -> bool:
    return hasattr(env, name)


def _read(env, name: str):
    return getattr(env, name, None)


def _image_problem(image, name: str) -> str | None:
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
        return f"{name}: must be a uint8 (H, W, 3) image, got {image.dtype} {image.shape}"
    return None


def task_problems(env, run: bool = True) -> list[str]:
    """Every way ``env`` misses the task contract (:class:`Task`), one line each; empty when it keeps it.

    ``run``: also drive it: a reset to a start and a goal state, a step, ``render_state``, the success test and
    ``report_metrics``, and (when ``samples_goals``) the free suite's samplers.
    """
    problems = [p for name, kind in FACTS.items() if (p := _fact_problem(env, name, kind))]
    problems += [_missing(f"{name}", "should be a method") for name in HOOKS if not callable(_read(env, name))]
    if not _has(env, "step_seconds"):
        problems.append(_missing("step_seconds", "should be the seconds one env step lasts, or None"))
    if problems or not run:
        return problems
    return _run_problems(env)


def _run_problems(env) -> list[str]:
    """The hooks driven once; the first failure of each stage is reported (later stages need earlier ones)."""
    problems: list[str] = []
    rng = np.random.default_rng(0)
    try:
        if env.samples_goals:
            start, goal = env.free_pair(rng, 0)
            start, goal = np.asarray(start, np.float64), np.asarray(goal, np.float64)
            if start.shape != (env.nq + env.nv,) or goal.shape != (env.nq,):
                return [f"free_pair(): must return a start (nq + nv = {env.nq + env.nv},) and a goal (nq = {env.nq},), "
                        f"got {start.shape} and {goal.shape}"]
            if np.asarray(env.sample_goal_state(rng)).shape != (env.nq,):
                problems.append(f"sample_goal_state(): must return qpos ({env.nq},)")
            options = {"state": start, "goal_state": goal}
        else:
            options = {}
        obs, start_info = env.reset(seed=0, options=options)
    except Exception as exc:  # noqa: BLE001 - a user's env may raise anything; it is the finding
        return problems + [f"reset(): raised {type(exc).__name__}: {exc}"]
    problems += _info_problems(start_info, "reset()")
    if not isinstance(obs, dict):
        problems += [p for p in [_image_problem(obs, "reset()'s observation")] if p]
    if problems:
        return problems
    if not options and env.nq:  # a start and goal state from the env's own reset, to check the exact reset
        state, goal = np.concatenate([start_info["qpos"], start_info["qvel"]]), np.asarray(start_info["qpos"])
        try:
            obs, start_info = env.reset(seed=0, options={"state": state, "goal_state": goal})
        except Exception as exc:  # noqa: BLE001
            return [f"reset(options={{'state', 'goal_state'}}): raised {type(exc).__name__}: {exc}"]
    try:
        qpos, qvel = env.as_state(start_info["qpos"], "state")
        if np.asarray(qpos).shape != (env.nq,) or np.asarray(qvel).shape != (env.nv,):
            problems.append(f"as_state(): must return qpos ({env.nq},) and qvel ({env.nv},)")
        problem = env.state_problem(np.asarray(start_info["qpos"]), np.asarray(start_info["qvel"]))
        if problem is not None:
            problems.append(f"state_problem(): refuses the state reset() just put the env in: {problem}")
        goal_qpos = start_info.get("goal_qpos", start_info["qpos"])
        problems += [p for p in [_image_problem(env.render_state(goal_qpos), "render_state()")] if p]
        if not isinstance(env.is_success(start_info["qpos"], goal_qpos), (bool, np.bool_)):
            problems.append("is_success(): must return a bool")
        if np.asarray(env.state_error(start_info["qpos"], goal_qpos)).ndim != 1:
            problems.append("state_error(): must return one error per entry, a 1-D array")
        out = env.step(np.zeros(env.action_space.shape, np.float32))
        if not (isinstance(out, tuple) and len(out) == 5):
            return problems + ["step(): must return (obs, reward, terminated, truncated, info)"]
        problems += _info_problems(out[4], "step()")
        metrics = env.report_metrics(start_info, out[4])
        if not isinstance(metrics, dict) or not all(
                isinstance(k, str) and isinstance(v, (bool, int, float, np.number, np.bool_)) for k, v in
                metrics.items()):
            problems.append(f"report_metrics(): must return a dict of names to numbers or bools, got {metrics!r}")
        if not isinstance(env.success_words(), str):
            problems.append("success_words(): must return a str")
    except Exception as exc:  # noqa: BLE001
        problems.append(f"a hook raised {type(exc).__name__}: {exc}")
    return problems


def _info_problems(info, where: str) -> list[str]:
    if not isinstance(info, dict):
        return [f"{where}: info must be a dict, got {type(info).__name__}"]
    missing = [k for k in INFO_KEYS if k not in info]
    if missing:
        return [f"{where}: info lacks {', '.join(missing)} (every info holds {', '.join(INFO_KEYS)})"]
    return [p for p in [_image_problem(info["goal"], f"{where}: info['goal']")] if p]


def check_task(env, run: bool = True) -> None:
    """Raises :class:`TaskContractError` naming every way ``env`` (or its ``unwrapped`` env) misses the task
    contract (:func:`task_problems`); returns None when it keeps it."""
    target = getattr(env, "unwrapped", env)
    problems = task_problems(target, run=run)
    if problems:
        raise TaskContractError(f"{type(target).__name__} does not implement the task contract (envs.task.Task):\n"
                                + "\n".join(f"- {p}" for p in problems))
