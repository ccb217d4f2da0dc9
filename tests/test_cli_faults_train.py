"""lewm-train and checkpoint loading on bad input: one clear line, exit status 2, nothing written, nothing changed.

The table runs the installed ``lewm-train`` on each fault; the fault-injection tests damage a saved checkpoint
and expect ``LeWM.load`` to refuse it.
"""
import json
import os
import shutil
import stat
import subprocess

import h5py
import numpy as np
import pytest
import torch
import yaml
from cli_faults import assert_unchanged, assert_user_error, run_command, snapshot
from conftest import restamp, tiny_config

from world_model import LeWM, LeWMConfig
from common.cli_errors import UserInputError
from world_model.model.config import ConfigError
from world_model.training.train import main as train_main

TINY = dict(preset="cpu", image_size=32, cnn_channels=[8, 16, 32], embed_dim=32, proj_hidden=64, pred_depth=1,
            pred_heads=2, pred_dim_head=16, pred_mlp_dim=64, sigreg_projections=64, batch_size=8, steps=2,
            eval_every=2, eval_batches=1, log_every=1, checkpoint_every=2, precision="fp32")
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, tiny_reacher_h5):
    """A finished 2-step tiny run (in-process: no interpreter start-up), to copy and resume."""
    root = tmp_path_factory.mktemp("trained")
    (root / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    run = root / "run"
    assert train_main(["--config", str(root / "tiny.yaml"), "--data", str(tiny_reacher_h5), "--out", str(run),
                       "--no-progress"]) == 0
    return run


@pytest.fixture(scope="module")
def other_data(tmp_path_factory, tiny_reacher_h5):
    """The tiny dataset with halved actions and another seed: valid, but not the data the run was trained on."""
    path = tmp_path_factory.mktemp("other") / "other.h5"
    shutil.copy(tiny_reacher_h5, path)
    with h5py.File(path, "r+") as f:
        f["action"][...] = f["action"][:] * 0.5
        f.attrs["seed"] = 7
    restamp(path)  # a valid file of other data, not a damaged one
    return path


def _write(path, content) -> str:
    """Writes bytes or text to ``path`` and returns it as a string."""
    path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    return str(path)


def _folder(path) -> str:
    path.mkdir()
    return str(path)


def _missing_columns(path) -> str:
    with h5py.File(path, "w") as f:
        f["pixels"] = np.zeros((4, 32, 32, 3), np.uint8)
    return str(path)


def _damaged_run(run, tmp_path) -> str:
    """A copy of the trained run whose train_state.pt is cut in half."""
    copy = shutil.copytree(run, tmp_path / "run")
    state = copy / "train_state.pt"
    state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])
    return str(copy)


# case -> (arguments after --config/--data/--out defaults are filled in, words the error line must contain).
# ``c`` holds: cfg (a good config), data (the tiny dataset), out (a new run folder), run (the trained run),
# other (other data), t (this test's tmp_path).
CASES = {
    "steps_zero": (lambda c: ["--steps", "0"], ["--steps must be at least 1, got 0"]),
    "steps_negative": (lambda c: ["--steps", "-3"], ["--steps must be at least 1, got -3"]),
    "config_steps_zero": (lambda c: ["--config", _write(c["t"] / "zero.yaml", yaml.safe_dump({**TINY, "steps": 0}))],
                          ["zero.yaml", "steps must be at least 1, got 0"]),
    "data_truncated": (lambda c: ["--data", _write(c["t"] / "cut.h5", c["data"].read_bytes()[:20000])],
                       ["cannot read dataset", "cut.h5", "truncated", "lewm-collect"]),
    "data_empty": (lambda c: ["--data", _write(c["t"] / "empty.h5", b"")],
                   ["cannot read dataset", "empty.h5", "not an HDF5 file", "lewm-collect"]),
    "data_png": (lambda c: ["--data", _write(c["t"] / "image.png", PNG)],
                 ["cannot read dataset", "image.png", "not an HDF5 file"]),
    "data_text": (lambda c: ["--data", _write(c["t"] / "notes.h5", "just some text\n")],
                  ["cannot read dataset", "notes.h5", "not an HDF5 file"]),
    "data_folder": (lambda c: ["--data", _folder(c["t"] / "episodes")], ["cannot read dataset", "episodes", "folder"]),
    "data_missing_columns": (lambda c: ["--data", _missing_columns(c["t"] / "pix.h5")],
                             ["pix.h5", "missing columns", "action", "ep_len"]),
    "out_is_file": (lambda c: ["--out", _write(c["t"] / "taken.txt", "x")], ["--out", "taken.txt", "is a file"]),
    "state_truncated": (lambda c: ["--out", _damaged_run(c["run"], c["t"]), "--resume"],
                        ["train_state.pt is damaged", "model is intact", "delete"]),
    "resume_other_data": (lambda c: ["--out", str(shutil.copytree(c["run"], c["t"] / "run")), "--resume",
                                     "--data", str(c["other"])],
                          ["--resume", "other.h5 is not the data this run was trained on", "--allow-other-data"]),
    "resume_fewer_steps": (lambda c: ["--out", str(shutil.copytree(c["run"], c["t"] / "run")), "--resume",
                                      "--steps", "1"], ["--steps 1 is below step 2"]),
    "config_not_yaml": (lambda c: ["--config", _write(c["t"] / "bad.yaml", "steps: [2\nlr: 1e-3\n")],
                        ["cannot parse", "bad.yaml", "YAML"]),
    "config_not_mapping": (lambda c: ["--config", _write(c["t"] / "list.yaml", "- steps\n- 2\n")],
                           ["list.yaml", "mapping"]),
    "unknown_set_key": (lambda c: ["--set", "learning_rate=0.1"], ["--set", "unknown config key", "learning_rate"]),
    "missing_config": (lambda c: ["--config", str(c["t"] / "nope.yaml")], ["config file not found", "nope.yaml"]),
    "other_data_without_resume": (lambda c: ["--allow-other-data"], ["--allow-other-data", "--resume"]),
    "init_and_resume": (lambda c: ["--init", str(c["run"] / "model"), "--resume"], ["--init", "--resume", "only one"]),
    "init_missing": (lambda c: ["--init", str(c["t"] / "nowhere")], ["--init", "nowhere", "no such checkpoint"]),
    "init_other_architecture": (lambda c: ["--init", str(c["run"] / "model"), "--config",
                                           _write(c["t"] / "wide.yaml", yaml.safe_dump({**TINY, "embed_dim": 48}))],
                                ["--init", "architecture differs", "shape mismatch"]),
}


# Two cases run the installed ``lewm-train``; the others run its main in this process (same checks, no interpreter
# start-up, to keep this file fast).
INSTALLED = {"steps_zero", "state_truncated"}


def _run_train(case: str, args: list, cwd, capsys) -> subprocess.CompletedProcess:
    """Runs lewm-train on ``args``: the installed command for INSTALLED cases, else ``main`` in this process."""
    if case in INSTALLED:
        return run_command("lewm-train", *args, cwd=cwd, timeout=120)
    capsys.readouterr()
    here = os.getcwd()
    os.chdir(cwd)
    try:
        status = train_main([str(a) for a in args])
    finally:
        os.chdir(here)
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, status, out.out, out.err)


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_lewm_train_user_errors(case, tmp_path, trained_run, other_data, tiny_reacher_h5, capsys, monkeypatch):
    monkeypatch.delenv("LEWM_DEBUG", raising=False)
    make_args, words = CASES[case]
    cfg = _write(tmp_path / "tiny.yaml", yaml.safe_dump(TINY))
    ctx = {"cfg": cfg, "data": tiny_reacher_h5, "out": tmp_path / "new_run", "run": trained_run,
           "other": other_data, "t": tmp_path}
    extra = make_args(ctx)
    before = snapshot(tmp_path, tiny_reacher_h5, other_data, trained_run)
    args = ["--config", cfg, "--data", tiny_reacher_h5, "--out", ctx["out"], "--no-progress", *extra]
    result = _run_train(case, args, tmp_path, capsys)
    assert_user_error(result, "lewm-train", *words)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr  # the error line and nothing else
    assert_unchanged(before, snapshot(tmp_path, tiny_reacher_h5, other_data, trained_run))
    assert not ctx["out"].exists() and not (tmp_path / "runs").exists()
    assert not list(tmp_path.rglob("*.tmp"))


@pytest.mark.slow
def test_resume_on_other_data_when_allowed_keeps_the_action_normalisation(tmp_path, trained_run, other_data):
    run = shutil.copytree(trained_run, tmp_path / "run")
    saved = LeWM.load(run / "model").cfg
    result = run_command("lewm-train", "--config", run / "model" / "config.yaml", "--out", run, "--resume",
                         "--data", other_data, "--allow-other-data", "--steps", "3", "--no-progress", timeout=120)
    assert result.returncode == 0, result.stderr
    assert "--allow-other-data: continuing on" in result.stderr and "keeping the model's action normalisation" in \
        result.stderr
    cfg = LeWM.load(run / "model").cfg
    assert (cfg.action_mean, cfg.action_std) == (saved.action_mean, saved.action_std)
    assert cfg.data_path == str(other_data)
    state = torch.load(run / "train_state.pt", weights_only=True)
    assert state["step"] == 3 and state["extra"]["data"]["path"] == str(other_data.resolve())
    assert not list(run.rglob("*.tmp"))


@pytest.mark.slow
def test_init_starts_a_new_run_from_a_checkpoints_weights(tmp_path, trained_run, other_data):
    """Fine-tuning: the new run's first evaluation is the source model's last (same weights, same batches)."""
    source = LeWM.load(trained_run / "model").cfg
    out = tmp_path / "tuned"
    assert train_main(["--config", str(trained_run / "model" / "config.yaml"), "--data", str(other_data),
                       "--out", str(out), "--init", str(trained_run / "model"), "--steps", "2", "--no-progress"]) == 0
    lines = [json.loads(ln) for ln in (out / "log.jsonl").read_text().splitlines()]
    meta = next(r for r in lines if r["kind"] == "meta")
    assert meta["init_from"] == str(trained_run / "model")
    tuned = LeWM.load(out / "model").cfg
    assert (tuned.action_mean, tuned.action_std) == (source.action_mean, source.action_std)
    assert tuned.data_path == str(other_data)
    again = tmp_path / "again"  # on the source's own data, step 0 reproduces the source's final evaluation
    assert train_main(["--config", str(trained_run / "model" / "config.yaml"), "--data", str(source.data_path),
                       "--out", str(again), "--init", str(trained_run / "model"), "--steps", "1",
                       "--no-progress"]) == 0
    first = next(json.loads(ln) for ln in (again / "log.jsonl").read_text().splitlines() if '"eval"' in ln)
    last = [json.loads(ln) for ln in (trained_run / "log.jsonl").read_text().splitlines() if '"eval"' in ln][-1]
    assert first["step"] == 0 and first["val_pred"] == pytest.approx(last["val_pred"], rel=1e-6)


@pytest.mark.slow
def test_run_files_get_the_mode_open_would_give(trained_run):
    umask = os.umask(0)
    os.umask(umask)
    for name in ("train_state.pt", "model/model.safetensors", "model/config.yaml", "summary.json", "probe.json"):
        assert stat.S_IMODE((trained_run / name).stat().st_mode) == 0o666 & ~umask, name


# ----- damaged checkpoints -------------------------------------------------------------------------------------------
@pytest.fixture
def checkpoint(tmp_path):
    """A freshly saved tiny checkpoint (config.yaml with weights_sha256 + model.safetensors)."""
    torch.manual_seed(0)
    folder = tmp_path / "ck"
    LeWM(tiny_config()).save(folder)
    return folder


def _drop_checksum(folder) -> None:
    cfg = LeWMConfig.from_yaml(folder / "config.yaml")
    assert cfg.weights_sha256 is not None
    cfg.replace(weights_sha256=None).to_yaml(folder / "config.yaml")


def _overwrite(path, offset: int, data: bytes) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset: offset + len(data)] = data
    path.write_bytes(bytes(raw))


def test_saved_checkpoint_records_and_passes_its_checksum(checkpoint):
    from common.io_utils import file_sha256

    written = yaml.safe_load((checkpoint / "config.yaml").read_text())["weights_sha256"]
    assert written == file_sha256(checkpoint / "model.safetensors")
    assert LeWM.load(checkpoint).cfg.weights_sha256 is None  # the checksum belongs to the file, not the model


@pytest.mark.parametrize("checksum", [True, False])
def test_overwritten_header_bytes_are_refused(checkpoint, checksum):
    if not checksum:
        _drop_checksum(checkpoint)
    _overwrite(checkpoint / "model.safetensors", 8, b"\xff" * 32)  # inside the JSON header
    words = "does not match the checksum" if checksum else "not a readable safetensors file"
    with pytest.raises(UserInputError, match=words):
        LeWM.load(checkpoint, trust_unverified=not checksum)


def test_4kib_overwritten_in_the_middle_fails_the_checksum(checkpoint):
    weights = checkpoint / "model.safetensors"
    _overwrite(weights, weights.stat().st_size // 2, os.urandom(4096))
    with pytest.raises(UserInputError, match=f"checkpoint {checkpoint}: model.safetensors does not match the "
                                             "checksum in config.yaml"):
        LeWM.load(checkpoint)


@pytest.mark.parametrize("size", [0, 100, "half"])
def test_empty_or_truncated_weights_are_refused(checkpoint, size):
    _drop_checksum(checkpoint)
    weights = checkpoint / "model.safetensors"
    keep = weights.stat().st_size // 2 if size == "half" else size
    weights.write_bytes(weights.read_bytes()[:keep])
    with pytest.raises(UserInputError, match="model.safetensors is not a readable safetensors file"):
        LeWM.load(checkpoint, trust_unverified=True)


def test_non_finite_weights_without_a_checksum_are_refused(checkpoint):
    from safetensors.torch import load_file, save_file

    _drop_checksum(checkpoint)
    weights = load_file(str(checkpoint / "model.safetensors"))
    name = sorted(k for k, v in weights.items() if v.is_floating_point())[3]
    weights[name][...] = float("nan")
    save_file(weights, str(checkpoint / "model.safetensors"))
    with pytest.raises(UserInputError, match=f"weight {name} holds NaN or infinite values"):
        LeWM.load(checkpoint, trust_unverified=True)


@pytest.mark.parametrize("text", ["task: [reacher\n", "- a\n- b\n", "\x00\xff\xfe binary"])
def test_damaged_checkpoint_config_names_the_file(checkpoint, text):
    (checkpoint / "config.yaml").write_bytes(text.encode("latin-1"))
    with pytest.raises(ConfigError, match=str(checkpoint / "config.yaml")):
        LeWM.load(checkpoint)


# ----- which data a resumed run accepts ------------------------------------------------------------------------------
def test_resume_data_check_by_fingerprint_or_by_path_for_older_runs(tmp_path):
    from world_model.training.run_data import check_resume_data

    fp = {"path": str(tmp_path / "a.h5"), "frames": 124, "episodes": 4, "digest": "0" * 16, "attrs": {"seed": "0"}}
    moved = {**fp, "path": str(tmp_path / "moved.h5")}
    cfg = LeWMConfig(data_path=str(tmp_path / "a.h5"))
    check_resume_data(cfg, fp, moved, allow_other=False)  # the same data at another path
    with pytest.raises(UserInputError, match=r"a\.h5 is not the data .*\(.*a\.h5: seed 0; given: seed 1\)"):
        check_resume_data(cfg, fp, {**fp, "attrs": {"seed": "1"}}, allow_other=False)
    with pytest.raises(UserInputError, match="same size and metadata; given: other actions"):
        check_resume_data(cfg, fp, {**fp, "digest": "1" * 16}, allow_other=False)
    check_resume_data(cfg, None, fp, allow_other=False)  # an older run: same path
    with pytest.raises(UserInputError, match="no fingerprint recorded"):
        check_resume_data(cfg, None, moved, allow_other=False)
    check_resume_data(cfg, None, moved, allow_other=True)


@pytest.mark.slow
def test_init_adds_a_fresh_state_readout(tmp_path, trained_run, other_data):
    """A fine-tune may turn the state readout on over a checkpoint trained without it; the rest is copied."""
    source = LeWM.load(trained_run / "model")
    assert source.cfg.state_lambda == 0
    out = tmp_path / "with_state"
    assert train_main(["--config", str(trained_run / "model" / "config.yaml"), "--data", str(other_data),
                       "--out", str(out), "--init", str(trained_run / "model"), "--set", "state_lambda=1.0",
                       "--steps", "1", "--set", "lr=0.000000000001", "--no-progress"]) == 0
    tuned = LeWM.load(out / "model")
    assert tuned.cfg.state_lambda == 1.0
    for name, value in source.encoder.state_dict().items():
        torch.testing.assert_close(tuned.encoder.state_dict()[name], value)
