"""No module import chosen by a file: a checkpoint's ``env_import`` (config.yaml) and a dataset's ``env_import``
attribute never cause an import, through the installed commands and the API. The module of each case is a planted
``this.py`` in the working folder (on the path, as ``.`` on a user's PYTHONPATH puts it) that writes a marker file
when imported: run from such a folder, a downloaded checkpoint naming ``this`` used to run it."""

import os
import shutil
import subprocess
import sys

import h5py
import pytest
import yaml
from cli_faults import assert_user_error, run_command

pytestmark = pytest.mark.slow  # commands run end to end: left out by make test-fast

TINY = dict(preset="cpu", image_size=32, cnn_channels=[8, 16, 32], embed_dim=32, proj_hidden=64, pred_depth=1,
            pred_heads=2, pred_dim_head=16, pred_mlp_dim=64, sigreg_projections=64, batch_size=8, steps=1,
            eval_every=1, eval_batches=1, log_every=1, checkpoint_every=1, precision="fp32")
PLANTED = "open('IMPORTED', 'w').write('planted module ran')\n"


@pytest.fixture
def planted(tmp_path, tiny_checkpoint):
    """A working folder holding ``this.py`` (writes ``IMPORTED`` when imported) and a checkpoint naming it."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "this.py").write_text(PLANTED)
    ckpt = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, ckpt)
    cfg = yaml.safe_load((ckpt / "config.yaml").read_text())
    (ckpt / "config.yaml").write_text(yaml.safe_dump({**cfg, "env_import": "this"}, sort_keys=False))
    return {"work": work, "ckpt": ckpt, "env": {"PYTHONPATH": os.pathsep.join([str(work),
                                                                               os.environ.get("PYTHONPATH", "")])}}


COMMANDS = [
    ("plan-make-goal", "lewm-plan", ["--make-goal", "{work}/goal.png", "--checkpoint", "{ckpt}"]),
    ("eval", "lewm-eval", ["--checkpoint", "{ckpt}", "--episodes", "1", "--budget", "1", "--samples", "8",
                           "--iters", "1", "--horizon", "2", "--no-progress", "--out", "{work}/eval"]),
]


@pytest.mark.parametrize("exe,args", [c[1:] for c in COMMANDS], ids=[c[0] for c in COMMANDS])
def test_checkpoint_module_is_never_imported_by_a_command(exe, args, planted):
    argv = [a.format(work=planted["work"], ckpt=planted["ckpt"]) for a in args]
    result = run_command(exe, *argv, cwd=planted["work"], extra_env=planted["env"])
    assert not (planted["work"] / "IMPORTED").exists(), "the checkpoint's env_import was imported"
    assert "Beautiful is better than ugly" not in result.stdout
    notes = [ln for ln in result.stderr.splitlines() if "--import this" in ln]
    assert len(notes) == 1 and notes[0].startswith(f"{exe}: note:"), result.stderr


def test_checkpoint_module_is_never_imported_by_the_api(planted):
    code = ("import sys; from agent import Agent; a = Agent.from_pretrained(sys.argv[1], device='cpu'); "
            "print('loaded', 'this' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code, str(planted["ckpt"])], cwd=planted["work"],
                            capture_output=True, text=True, timeout=120, env={**os.environ, **planted["env"]})
    assert result.returncode == 0, result.stderr
    assert "loaded False" in result.stdout and not (planted["work"] / "IMPORTED").exists()


def test_a_module_the_user_names_is_imported(planted):
    result = run_command("lewm-plan", "--import", "this", "--make-goal", planted["work"] / "goal.png",
                         "--checkpoint", planted["ckpt"], cwd=planted["work"], extra_env=planted["env"])
    assert result.returncode == 0, result.stderr
    assert (planted["work"] / "IMPORTED").exists() and "note:" not in result.stderr


def test_a_dataset_attribute_is_not_copied_into_the_checkpoint(planted, tiny_reacher_h5, tmp_path):
    data = tmp_path / "data.h5"
    shutil.copy(tiny_reacher_h5, data)
    with h5py.File(data, "a") as f:
        f.attrs["env_import"] = "this"
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    result = run_command("lewm-train", "--config", tmp_path / "tiny.yaml", "--data", data, "--out",
                         tmp_path / "run", "--no-progress", cwd=planted["work"], extra_env=planted["env"])
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load((tmp_path / "run" / "model" / "config.yaml").read_text())["env_import"] == ""
    assert not (planted["work"] / "IMPORTED").exists()


BAD_IMPORT = [
    ("not-a-name", ["--import", "os; rm -rf"], ["not a Python module name"]),
    ("absent", ["--import", "no_such_module_xyz"], ["no such module"]),
]


@pytest.mark.parametrize("args,words", [c[1:] for c in BAD_IMPORT], ids=[c[0] for c in BAD_IMPORT])
def test_train_import_names_a_module(args, words, tmp_path):
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    result = run_command("lewm-train", "--config", tmp_path / "tiny.yaml", "--out", tmp_path / "run", *args,
                         cwd=tmp_path)
    assert_user_error(result, "lewm-train", "--import", *words)
    assert not (tmp_path / "run").exists()
