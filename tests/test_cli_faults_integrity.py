"""Integrity required, not offered; values checked at every entry (issue 42, items 3 and 4).

A checkpoint must record and match its weights' checksum and name its task; every companion file must record the
checksum of the model it was built for. Each row runs an installed command on one such input and expects one
line, exit status 2, no traceback, nothing written. ``--trust-unverified`` lets a hand-edited checkpoint through
with a warning. The rows use the harness of ``test_cli_faults.py`` (``{name}`` is a prepared input, ``{work}`` the
case's own empty folder).
"""

import shutil

import numpy as np
import pytest
import torch
import yaml
from cli_faults import assert_unchanged, assert_user_error, run_command, run_in_process, snapshot
from conftest import model_sha

from world_model import LeWM, LeWMConfig
from common.cli_errors import UserInputError

FAST = ["--samples", "8", "--iters", "1", "--horizon", "2", "--no-progress"]

CASES = [
    # ---- checkpoints: checksum required, config and task present
    ("no-checksum", "lewm-plan", ["--checkpoint", "{no_checksum}"],
     ["records no weights_sha256", "--trust-unverified"]),
    ("empty-config", "lewm-plan", ["--checkpoint", "{empty_config}"], ["config.yaml is empty"]),
    ("empty-task", "lewm-plan", ["--checkpoint", "{empty_task}"], ["names no task"]),
    ("eval-no-checksum", "lewm-eval", ["--checkpoint", "{no_checksum}"], ["records no weights_sha256"]),
    # ---- companion files: built for this model
    ("proposal-of-another-model", "lewm-plan", ["--checkpoint", "{other_proposal}"],
     ["proposal.safetensors was built for another model", "lewm-train-proposal"]),
    ("proposal-without-model", "lewm-plan", ["--checkpoint", "{bare_proposal}"],
     ["proposal.safetensors does not record which model"]),
    ("waypoints-of-another-model", "lewm-plan", ["--checkpoint", "{checkpoint}", "--waypoints", "{other_graph}"],
     ["was built for another model", "lewm-waypoints"]),
    ("planning-json-of-another-model", "lewm-plan", ["--checkpoint", "{other_choice}"],
     ["planning.json was built for another model"]),
    ("eval-proposal-of-another-model", "lewm-eval", ["--checkpoint", "{other_proposal}"],
     ["was built for another model"]),
    # ---- values: normalisation statistics, options finite, states inside the task's world
    ("action-std-zero", "lewm-plan", ["--checkpoint", "{std_zero}"], ["action_std must be greater than 0"]),
    ("action-std-inf", "lewm-plan", ["--checkpoint", "{std_inf}"], ["action_std must hold finite numbers"]),
    ("train-steps-inf", "lewm-train", ["--set", "steps=.inf"], ["steps must be an integer, got inf"]),
    ("train-lr-inf", "lewm-train", ["--set", "lr=.inf"], ["lr must be a finite number, got inf"]),
    ("refine-lr-inf", "lewm-plan", ["--checkpoint", "{checkpoint}", "--refine-lr", "inf"],
     ["--refine-lr must be a finite number > 0, got inf"]),
    ("refine-lr-nan", "lewm-plan", ["--checkpoint", "{checkpoint}", "--refine-lr", "nan"], ["--refine-lr"]),
    ("start-state-1e308", "lewm-plan", ["--checkpoint", "{checkpoint}", "--start-state", "1e308,1e308"],
     ["--start-state is not a state of this task's world", "1e+308"]),
    ("start-state-beyond-wrist-range", "lewm-plan", ["--checkpoint", "{checkpoint}", "--start-state", "0,4"],
     ["--start-state", "outside its joint's range"]),
    ("make-goal-state-1e300", "lewm-plan", ["--make-goal", "{work}/g.png", "--goal-state", "1e300,0"],
     ["--goal-state is not a state of this task's world"]),
    ("make-goal-pointmass-outside-arena", "lewm-plan",
     ["--make-goal", "{work}/g.png", "--env", "pointmass", "--goal-state", "0.5,0"], ["--goal-state", "range"]),
    ("make-goal-tworoom-in-wall", "lewm-plan",
     ["--make-goal", "{work}/g.png", "--env", "tworoom", "--goal-state", "0,0"], ["inside a wall"]),
    ("make-goal-pusht-off-table", "lewm-plan",
     ["--make-goal", "{work}/g.png", "--env", "pusht", "--goal-state", "1e9,1e9,200,200,0"], ["--goal-state"]),
    ("goal-png-pose-1e300", "lewm-plan", ["--checkpoint", "{checkpoint}", "--goal", "{far_goal}"],
     ["goal_state is not a state of this task's world"]),
]


def _copy(src, dest):
    shutil.copytree(src, dest)
    return dest


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, tiny_checkpoint, tiny_reacher_h5):
    """Checkpoints damaged in one way each, beside a good one."""
    from agent.goal_files import save_goal_png
    from agent.planner_choice import FILE_NAME as CHOICE
    from agent.waypoints import WaypointGraph
    from world_model.policies.proposal import ProposalPolicy

    root = tmp_path_factory.mktemp("integrity")
    paths = {"inputs": root, "checkpoint": tiny_checkpoint, "reacher_h5": tiny_reacher_h5}
    picture = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    paths["goal"] = root / "goal.png"
    save_goal_png(paths["goal"], picture, "reacher", np.array([0.5, -0.5]))
    paths["config"] = root / "tiny.yaml"
    paths["config"].write_text(yaml.safe_dump(dict(preset="cpu", image_size=32, cnn_channels=[8, 16, 32],
                                                   embed_dim=32, steps=2, batch_size=8)))
    paths["far_goal"] = root / "far_goal.png"  # a goal image whose stored pose is outside the world
    save_goal_png(paths["far_goal"], picture, "reacher", np.array([1e300, 0.0]))

    no_checksum = _copy(tiny_checkpoint, root / "no_checksum")
    text = (no_checksum / "config.yaml").read_text()
    (no_checksum / "config.yaml").write_text("".join(ln for ln in text.splitlines(True)
                                                     if not ln.startswith("weights_sha256:")))
    paths["no_checksum"] = no_checksum
    paths["empty_config"] = _copy(tiny_checkpoint, root / "empty_config")
    (paths["empty_config"] / "config.yaml").write_text("\n")
    for name, std in (("std_zero", [0.0, 0.0]), ("std_inf", [float("inf"), 1.0])):
        paths[name] = _copy(tiny_checkpoint, root / name)
        cfg = yaml.safe_load((paths[name] / "config.yaml").read_text())
        (paths[name] / "config.yaml").write_text(yaml.safe_dump({**cfg, "action_std": std}, sort_keys=False))
    paths["empty_task"] = _copy(tiny_checkpoint, root / "empty_task")
    cfg = yaml.safe_load((paths["empty_task"] / "config.yaml").read_text())
    (paths["empty_task"] / "config.yaml").write_text(yaml.safe_dump({**cfg, "task": ""}, sort_keys=False))

    other = "ab" * 32  # another model's weights digest (the tiny two-room model has the reacher's weights)
    torch.manual_seed(0)
    paths["other_proposal"] = _copy(tiny_checkpoint, root / "other_proposal")
    ProposalPolicy(32, 10, 2, hidden=16).save(paths["other_proposal"], model_sha256=other)
    paths["bare_proposal"] = _copy(tiny_checkpoint, root / "bare_proposal")
    ProposalPolicy(32, 10, 2, hidden=16).save(paths["bare_proposal"])
    paths["other_graph"] = root / "other_graph.npz"
    WaypointGraph(torch.randn(6, 32), np.zeros(6, int), 0.01, 0.5, model_sha256=other).save(paths["other_graph"])
    paths["other_choice"] = _copy(tiny_checkpoint, root / "other_choice")
    (paths["other_choice"] / CHOICE).write_text(f'{{"planner": "mppi", "model_sha256": "{other}"}}\n')
    return paths


def _argv(exe, args, names):
    if exe == "lewm-train":
        return [a.format(**names) for a in [*args, "--config", "{config}", "--data", "{reacher_h5}", "--out",
                                             "{work}/run", "--no-progress"]]
    if "--make-goal" in args:
        return [a.format(**names) for a in [*args, "--no-progress"]]
    defaults = ([] if "--goal" in args else ["--goal", "{goal}"]) if exe == "lewm-plan" else [
        "--suite", "lewm", "--episodes", "2", "--eval-data", "{reacher_h5}", "--out", "{work}/eval"]
    return [a.format(**names) for a in [*args, *defaults, *FAST]]


# The first case of each command runs the installed command; the others its main in this process (the same checks
# without an interpreter start-up each).
INSTALLED = {next(c[0] for c in CASES if c[1] == exe) for exe in {c[1] for c in CASES}}


@pytest.mark.slow
@pytest.mark.parametrize("case,exe,args,words", CASES, ids=[c[0] for c in CASES])
def test_integrity_fault_is_one_line_and_leaves_nothing(case, exe, args, words, inputs, tmp_path, capsys):
    work = tmp_path / "work"
    work.mkdir()
    names = {**{k: str(v) for k, v in inputs.items()}, "work": str(work)}
    before = snapshot(inputs["inputs"], inputs["checkpoint"])
    if case in INSTALLED:
        result = run_command(exe, *_argv(exe, args, names), cwd=work)
    else:
        result = run_in_process(exe, *_argv(exe, args, names), cwd=work, capsys=capsys)
    assert_user_error(result, exe, *words)
    assert_unchanged(before, snapshot(inputs["inputs"], inputs["checkpoint"]))
    assert not any(work.iterdir()), f"left behind: {sorted(p.name for p in work.iterdir())}"


@pytest.mark.slow
def test_trust_unverified_runs_a_hand_edited_checkpoint_with_a_warning(inputs, tmp_path):
    result = run_command("lewm-plan", "--checkpoint", inputs["other_proposal"], "--goal", inputs["goal"], "--steps",
                         "1", "--trust-unverified", *FAST, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "warning:" in result.stderr and "built for another model" in result.stderr


def test_case_ids_are_unique():
    assert len({c[0] for c in CASES}) == len(CASES)


# ----- the same through the API -------------------------------------------------------------------------------------
def test_checkpoint_without_checksum_is_refused_unless_trusted(inputs, caplog):
    with pytest.raises(UserInputError, match="records no weights_sha256"):
        LeWM.load(inputs["no_checksum"])
    with caplog.at_level("WARNING", logger="world_model"):
        model = LeWM.load(inputs["no_checksum"], trust_unverified=True)
    assert "cannot be verified" in caplog.text and model.checkpoint_sha256 == model_sha(inputs["checkpoint"])


def test_empty_config_is_refused_even_when_trusted(inputs):
    with pytest.raises(UserInputError, match="config.yaml is empty"):
        LeWM.load(inputs["empty_config"], trust_unverified=True)


@pytest.mark.parametrize("folder,words", [
    ("empty_task", "names no task"),
    ("other_proposal", "proposal.safetensors was built for another model"),
    ("bare_proposal", "does not record which model"),
    ("other_choice", "planning.json was built for another model"),
])
def test_agent_from_pretrained_refuses(inputs, folder, words):
    from agent import Agent

    with pytest.raises(UserInputError, match=words):
        Agent.from_pretrained(str(inputs[folder]), device="cpu", waypoints=False)


def test_agent_from_pretrained_trusts_hand_edited_companions(inputs, caplog):
    from agent import Agent

    with caplog.at_level("WARNING", logger="world_model"):
        agent = Agent.from_pretrained(str(inputs["other_proposal"]), device="cpu", horizon=2, trust_unverified=True)
    assert agent.proposal is not None and "built for another model" in caplog.text


def test_files_built_from_a_loaded_checkpoint_record_its_checksum(tiny_checkpoint, tiny_reacher_h5, tmp_path):
    from agent.planner_choice import checkpoint_choice_model, write_planner_choice
    from agent.waypoints import build_waypoints

    folder = _copy(tiny_checkpoint, tmp_path / "ck")
    model = LeWM.load(folder)
    assert model.checkpoint_sha256 == LeWMConfig.from_yaml(folder / "config.yaml").weights_sha256
    graph = build_waypoints(model, tiny_reacher_h5, link=0.01, reach=0.02, progress=False)
    graph.save(tmp_path / "g.npz")
    from agent.waypoints import WaypointGraph

    assert WaypointGraph.load(tmp_path / "g.npz").model_sha256 == model.checkpoint_sha256
    write_planner_choice(folder, "cem", "test")
    assert checkpoint_choice_model(folder) == model.checkpoint_sha256


def test_stamping_keeps_the_tensors_and_adds_the_checksum(tiny_checkpoint, tmp_path):
    from safetensors.torch import load_file

    from world_model.model.model_identity import stamp_file
    from world_model.policies.proposal import ProposalPolicy

    folder = _copy(tiny_checkpoint, tmp_path / "ck")
    torch.manual_seed(0)
    ProposalPolicy(32, 10, 2, hidden=16).save(folder, half=True)
    before = load_file(str(folder / "proposal.safetensors"))
    stamp_file(folder / "proposal.safetensors", model_sha(folder))
    after = load_file(str(folder / "proposal.safetensors"))
    assert all(torch.equal(before[k], after[k]) and before[k].dtype == after[k].dtype for k in before)
    assert ProposalPolicy.load(folder).model_sha256 == model_sha(folder)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["reacher", "pointmass", "tworoom", "cube", "pusht"])
def test_shipped_companion_files_record_their_model(name):
    """Every shipped model's companion files record its checksum (lewm-ship --stamp)."""
    import json

    from agent.pretrained import shipped_checkpoints
    from agent.waypoints import WaypointGraph
    from world_model.policies.proposal import ProposalPolicy

    folder = shipped_checkpoints()[name]
    sha = model_sha(folder)
    assert ProposalPolicy.load(folder).model_sha256 == sha
    for graph in folder.glob("*.npz"):
        assert WaypointGraph.load(graph).model_sha256 == sha
    if (folder / "planning.json").is_file():
        assert json.loads((folder / "planning.json").read_text())["model_sha256"] == sha
    from safetensors import safe_open

    from world_model.model.model_identity import MODEL_KEY
    from world_model.model.ship import companion_files

    for path in companion_files(folder):  # the value, the state probe, subgoal frames ...
        if path.suffix == ".safetensors":
            with safe_open(str(path), framework="pt") as f:
                assert (f.metadata() or {}).get(MODEL_KEY) == sha, path.name
