"""Every user error of ``lewm-plan``, ``lewm-eval`` and ``lewm-collect`` (the first of each through the installed
command, the others through its ``main`` in this process): one line on stderr naming the problem, exit status 2, no
traceback, nothing written, no input changed.

Each row: an id, the command, its arguments (``{name}`` stands for a prepared input, ``{work}`` for the case's
own empty folder, where every output of the case is pointed), and words the error line must contain.
Defaults are added unless the row gives them: a tiny checkpoint and a fast planner for plan/eval, the tiny
held-out file and two episodes for eval.
"""

import shutil

import numpy as np
import pytest
from cli_faults import assert_unchanged, assert_user_error, run_command, run_in_process, snapshot

pytestmark = pytest.mark.slow  # commands run end to end: left out by make test-fast

FAST = {"--samples": "8", "--iters": "1", "--horizon": "2"}  # a plan in milliseconds

CASES = [
    # ---- lewm-plan: the goal image
    ("goal-missing", "lewm-plan", ["--goal", "{work}/nope.png"], ["image not found", "nope.png"]),
    ("goal-folder", "lewm-plan", ["--goal", "{inputs}"], ["is a folder, not an image"]),
    ("goal-not-an-image", "lewm-plan", ["--goal", "{text}"], ["cannot read image", "notes.txt"]),
    ("goal-truncated-png", "lewm-plan", ["--goal", "{truncated_png}"], ["cannot read image", "truncated.png"]),
    ("goal-of-another-task", "lewm-plan", ["--goal", "{pointmass_goal}"], ["goal image of task 'pointmass'"]),
    # ---- lewm-plan: options
    ("unknown-env", "lewm-plan", ["--env", "cartpole", "--goal", "{goal}"], ["unknown env 'cartpole'"]),
    ("device-tpu", "lewm-plan", ["--goal", "{goal}", "--device", "tpu"], ["--device", "'tpu'"]),
    ("one-sample", "lewm-plan", ["--goal", "{goal}", "--samples", "1"], ["--samples must be at least 2"]),
    ("samples-beyond-memory", "lewm-plan", ["--goal", "{goal}", "--samples", "2000000000"],
     ["--samples 2000000000", "GiB"]),
    ("zero-steps", "lewm-plan", ["--goal", "{goal}", "--steps", "0"], ["--steps must be at least 1"]),
    ("zero-iters", "lewm-plan", ["--goal", "{goal}", "--iters", "0"], ["--iters must be at least 1"]),
    ("noise-corr-one", "lewm-plan", ["--goal", "{goal}", "--noise-corr", "1"], ["--noise-corr must be in [0, 1)"]),
    ("zero-init-std", "lewm-plan", ["--goal", "{goal}", "--init-std", "0"], ["--init-std must be a finite number > 0"]),
    ("bad-start-state", "lewm-plan", ["--goal", "{goal}", "--start-state", "1,2,3"], ["state must have 2 values"]),
    ("no-waypoint-file", "lewm-plan", ["--goal", "{goal}", "--waypoints"], ["no waypoint file"]),
    ("waypoint-file-missing", "lewm-plan", ["--goal", "{goal}", "--waypoints", "{work}/none.npz"],
     ["--waypoints", "no such file", "lewm-waypoints"]),
    ("no-proposal-file", "lewm-plan", ["--goal", "{goal}", "--proposal"], ["no proposal file", "lewm-train-proposal"]),
    ("zero-warm-iters", "lewm-plan", ["--goal", "{goal}", "--warm-iters", "0"], ["--warm-iters must be at least 1"]),
    ("negative-refine-steps", "lewm-plan", ["--goal", "{goal}", "--refine-steps", "-1"],
     ["--refine-steps must be at least 0"]),
    ("zero-refine-lr", "lewm-plan", ["--goal", "{goal}", "--refine-lr", "0"],
     ["--refine-lr must be a finite number > 0"]),
    ("zero-replan-steps", "lewm-plan", ["--goal", "{goal}", "--replan-steps", "0"],
     ["--replan-steps must be at least 1"]),
    ("replan-steps-not-a-divisor", "lewm-plan", ["--goal", "{goal}", "--replan-steps", "2"],
     ["--replan-steps must divide the model's frameskip 5, got 2"]),
    # ---- lewm-plan: outputs, checked before the episode is planned
    ("video-folder", "lewm-plan", ["--goal", "{goal}", "--video", "{work}"], ["--video", "is a folder"]),
    ("video-missing-folder", "lewm-plan", ["--goal", "{goal}", "--video", "{work}/no/ep.mp4"], ["does not exist"]),
    ("video-unwritable", "lewm-plan", ["--goal", "{goal}", "--video", "/proc/ep.mp4"], ["cannot write a video"]),
    ("video-unknown-format", "lewm-plan", ["--goal", "{goal}", "--video", "{work}/ep.avi"],
     ["unknown video format '.avi'"]),
    ("make-goal-not-png", "lewm-plan", ["--make-goal", "{work}/goal.jpg"], ["use a .png name"]),
    ("make-goal-folder", "lewm-plan", ["--make-goal", "{work}"], ["is a folder"]),
    # ---- lewm-plan: checkpoints
    ("checkpoint-missing", "lewm-plan", ["--goal", "{goal}", "--checkpoint", "{work}/none"], ["no checkpoint"]),
    ("checkpoint-run-folder", "lewm-plan", ["--goal", "{goal}", "--checkpoint", "{run_folder}"],
     ["training run folder", "run/model"]),
    ("checkpoint-is-a-file", "lewm-plan", ["--goal", "{goal}", "--checkpoint", "{text}"], ["is a file"]),
    ("checkpoint-empty-weights", "lewm-plan", ["--goal", "{goal}", "--checkpoint", "{empty_weights}"],
     ["model.safetensors"]),
    ("checkpoint-truncated-weights", "lewm-plan", ["--goal", "{goal}", "--checkpoint", "{truncated_weights}"],
     ["model.safetensors"]),
    ("checkpoint-overwritten-weights", "lewm-plan", ["--goal", "{goal}", "--checkpoint", "{overwritten_weights}"],
     ["checksum"]),
    ("checkpoint-of-another-task", "lewm-plan", ["--goal", "{goal}", "--checkpoint", "{tworoom_checkpoint}"],
     ["trained for task 'tworoom', not 'reacher'"]),
    # ---- bounded appetite: sizes checked before anything is allocated (issue 42)
    ("make-goal-image-size-50000", "lewm-plan", ["--make-goal", "{work}/g.png", "--image-size", "50000"],
     ["--image-size must be at most 1024", "50000"]),
    ("goal-png-30000-square", "lewm-plan", ["--goal", "{huge_png}"], ["huge.png", "too large", "4096 x 4096"]),
    ("goal-png-5000-square", "lewm-plan", ["--goal", "{big_png}"], ["big.png", "5000 x 5000", "4096 x 4096"]),
    ("goal-pose-a-million-brackets", "lewm-plan", ["--goal", "{brackets_png}"],
     ["brackets.png", "pose text", "1000000 characters"]),
    ("proposal-dims-depth-100000", "lewm-plan", ["--goal", "{goal}", "--checkpoint", "{deep_proposal}", "--proposal"],
     ["proposal.safetensors", "depth: 100000"]),
    ("proposal-dims-not-its-tensors", "lewm-plan", ["--goal", "{goal}", "--checkpoint", "{wide_proposal}",
                                                    "--proposal"], ["proposal.safetensors", "do not match"]),
    ("plan-seed-negative", "lewm-plan", ["--goal", "{goal}", "--seed", "-1"], ["--seed", "-1"]),
    ("eval-seed-too-large", "lewm-eval", ["--seed", "4294967296"], ["--seed", "4294967296"]),
    ("collect-seed-negative", "lewm-collect", ["--env", "reacher", "--episodes", "1", "--seed", "-3", "--out",
                                               "{work}/d.h5"], ["--seed", "-3"]),
    ("collect-image-size-50000", "lewm-collect", ["--env", "reacher", "--episodes", "1", "--image-size", "50000",
                                                  "--out", "{work}/d.h5"], ["--image-size must be at most 1024"]),
    ("train-proposal-out-is-a-file", "lewm-train-proposal", ["--checkpoint", "{checkpoint}", "--data",
                                                             "{reacher_h5}", "--out", "{text}"],
     ["--out", "is a file"]),
    ("train-proposal-seed-negative", "lewm-train-proposal", ["--checkpoint", "{checkpoint}", "--data",
                                                             "{reacher_h5}", "--seed", "-1", "--out", "{work}"],
     ["--seed", "-1"]),
    ("train-proposal-dropout-one", "lewm-train-proposal", ["--checkpoint", "{checkpoint}", "--data",
                                                           "{reacher_h5}", "--dropout", "1", "--out", "{work}"],
     ["--dropout must be in [0, 1), got 1.0"]),
    ("train-subgoal-out-is-a-file", "lewm-train-subgoal", ["--checkpoint", "{checkpoint}", "--data", "{reacher_h5}",
                                                           "--out", "{text}"], ["--out", "is a file"]),
    # ---- lewm-eval
    ("eval-negative-budget", "lewm-eval", ["--budget", "-5"], ["--budget must be at least 1, got -5"]),
    ("eval-zero-budget", "lewm-eval", ["--budget", "0"], ["--budget must be at least 1, got 0"]),
    ("eval-zero-episodes", "lewm-eval", ["--episodes", "0"], ["--episodes must be at least 1"]),
    ("eval-out-is-a-file", "lewm-eval", ["--out", "{text}"], ["--out", "is a file, not a folder"]),
    ("eval-device-tpu", "lewm-eval", ["--device", "tpu"], ["--device", "'tpu'"]),
    ("eval-waypoint-file-and-no-waypoints", "lewm-eval", ["--no-waypoints", "--waypoints", "{text}"],
     ["choose one"]),
    ("eval-data-of-another-task", "lewm-eval", ["--eval-data", "{tworoom_h5}"],
     ["trajectories of task 'tworoom', not 'reacher'"]),
    ("eval-data-not-hdf5", "lewm-eval", ["--eval-data", "{text}"], ["notes.txt"]),
    ("eval-data-truncated", "lewm-eval", ["--eval-data", "{truncated_h5}"], ["truncated.h5"]),
    ("eval-data-untested-task", "lewm-eval", ["--eval-data", "pointmass={tworoom_h5}"], ["is not evaluated"]),
    ("eval-samples-beyond-memory", "lewm-eval", ["--samples", "2000000000"], ["GiB"]),
    ("eval-damaged-checkpoint", "lewm-eval", ["--checkpoint", "{overwritten_weights}"], ["checksum"]),
    # ---- lewm-collect
    ("collect-unknown-env", "lewm-collect", ["--env", "cartpole", "--episodes", "1", "--out", "{work}/d.h5"],
     ["unknown env"]),
    ("collect-zero-episodes", "lewm-collect", ["--env", "reacher", "--episodes", "0", "--out", "{work}/d.h5"],
     ["--episodes must be at least 1"]),
    ("collect-missing-folder", "lewm-collect", ["--env", "reacher", "--episodes", "1", "--out", "{work}/no/d.h5"],
     ["does not exist"]),
    ("collect-out-exists", "lewm-collect", ["--env", "reacher", "--episodes", "1", "--out", "{text}"],
     ["already exists"]),
]


def _with_defaults(exe: str, args: list[str]) -> list[str]:
    """Adds what a row leaves out: the tiny checkpoint, a fast planner, and eval's data and episodes."""
    defaults = {}
    if exe in ("lewm-plan", "lewm-eval"):
        defaults = {"--checkpoint": "{checkpoint}", **FAST}
    if exe == "lewm-eval":
        defaults.update({"--suite": "lewm", "--episodes": "2", "--eval-data": "{reacher_h5}", "--out": "{work}/eval"})
    extra = [part for option, value in defaults.items() if option not in args for part in (option, value)]
    return [*args, *extra, "--no-progress"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, tiny_checkpoint, tiny_tworoom_checkpoint, tiny_reacher_h5, tiny_tworoom_h5):
    """Every bad (and good) input the rows name, in one folder whose contents must never change."""
    from PIL import Image

    from agent.goal_files import save_goal_png

    root = tmp_path_factory.mktemp("inputs")
    paths = {"inputs": root, "checkpoint": tiny_checkpoint, "tworoom_checkpoint": tiny_tworoom_checkpoint,
             "reacher_h5": tiny_reacher_h5, "tworoom_h5": tiny_tworoom_h5}
    picture = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    paths["goal"] = root / "goal.png"
    save_goal_png(paths["goal"], picture, "reacher", np.array([0.5, -0.5]))
    paths["pointmass_goal"] = root / "pointmass_goal.png"
    save_goal_png(paths["pointmass_goal"], picture, "pointmass", np.array([0.1, 0.1]))
    paths["text"] = root / "notes.txt"
    paths["text"].write_text("not an image, a dataset or a checkpoint\n")
    Image.fromarray(picture).save(root / "full.png")
    paths["truncated_png"] = root / "truncated.png"
    paths["truncated_png"].write_bytes((root / "full.png").read_bytes()[:200])
    paths["truncated_h5"] = root / "truncated.h5"
    paths["truncated_h5"].write_bytes(tiny_reacher_h5.read_bytes()[:4096])
    paths["run_folder"] = root / "run"
    shutil.copytree(tiny_checkpoint, paths["run_folder"] / "model")
    weights = (tiny_checkpoint / "model.safetensors").read_bytes()
    paths["huge_png"] = root / "huge.png"
    paths["huge_png"].write_bytes(png_header_only(30000, 30000))
    paths["big_png"] = root / "big.png"
    paths["big_png"].write_bytes(png_header_only(5000, 5000))
    paths["brackets_png"] = root / "brackets.png"
    _save_with_pose_text(paths["brackets_png"], picture, "[" * 1_000_000)
    for name, dims in (("deep_proposal", {"depth": 100000}), ("wide_proposal", {"hidden": 48})):
        paths[name] = root / name
        shutil.copytree(tiny_checkpoint, paths[name])
        _proposal_with_dims(paths[name], dims)
    for name, content in (("empty_weights", b""), ("truncated_weights", weights[: len(weights) // 2]),
                          ("overwritten_weights", _overwrite_middle(weights, 4096))):
        paths[name] = root / name
        shutil.copytree(tiny_checkpoint, paths[name])
        (paths[name] / "model.safetensors").write_bytes(content)
    return paths


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width`` x ``height`` RGB pixels, with almost no pixel data: decoding it would
    allocate width * height * 3 bytes, reading its header costs nothing."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def _save_with_pose_text(path, picture, text: str) -> None:
    """A PNG whose goal-pose text chunk holds ``text`` (what ``save_goal_png`` writes as JSON)."""
    from PIL import Image, PngImagePlugin

    from agent.goal_files import POSE_KEY

    meta = PngImagePlugin.PngInfo()
    meta.add_text(POSE_KEY, text)
    Image.fromarray(picture).save(path, format="PNG", pnginfo=meta)


def _proposal_with_dims(folder, changes: dict) -> None:
    """A proposal file for the checkpoint in ``folder`` whose ``dims`` metadata is changed by ``changes`` (its
    tensors stay those of the true sizes)."""
    import json

    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from world_model import LeWM
    from world_model.policies.proposal import ProposalPolicy

    model = LeWM.load(folder)
    path = ProposalPolicy(model.cfg.embed_dim, model.cfg.action_block_dim, 5, hidden=32, depth=1).save(
        folder, model_sha256=model.checkpoint_sha256)
    with safe_open(str(path), framework="pt") as f:
        meta = dict(f.metadata())
    meta["dims"] = json.dumps({**json.loads(meta["dims"]), **changes})
    save_file(load_file(str(path)), str(path), metadata=meta)


def _overwrite_middle(data: bytes, n: int) -> bytes:
    """``data`` with ``n`` bytes in the middle replaced by 0xFF (inside the tensor data, past the header)."""
    mid = len(data) // 2
    return data[:mid] + b"\xff" * n + data[mid + n:]


# The first case of each command runs the installed command; the others run its main in this process (the same
# checks without an interpreter start-up each, which was most of this file's time).
INSTALLED = {next(c[0] for c in CASES if c[1] == exe) for exe in {c[1] for c in CASES}}


@pytest.mark.parametrize("case,exe,args,words", CASES, ids=[c[0] for c in CASES])
def test_user_error_is_one_line_and_leaves_nothing(case, exe, args, words, inputs, tmp_path, capsys):
    work = tmp_path / "work"
    work.mkdir()
    names = {**{k: str(v) for k, v in inputs.items()}, "work": str(work)}
    argv = [a.format(**names) for a in _with_defaults(exe, args)]
    before = snapshot(inputs["inputs"], inputs["reacher_h5"], inputs["checkpoint"])
    if case in INSTALLED:
        result = run_command(exe, *argv, cwd=work)
    else:
        result = run_in_process(exe, *argv, cwd=work, capsys=capsys)
    assert_user_error(result, exe, *words)
    assert_unchanged(before, snapshot(inputs["inputs"], inputs["reacher_h5"], inputs["checkpoint"]))
    assert not any(work.iterdir()), f"left behind: {sorted(p.name for p in work.iterdir())}"


def test_case_ids_are_unique():
    assert len({c[0] for c in CASES}) == len(CASES)
