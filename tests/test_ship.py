"""lewm-ship: a run's model and its held-out states become a package checkpoint folder; mistakes are one line."""
import shutil

import h5py
import numpy as np

from world_model import LeWM
from world_model.model import ship


def test_ships_a_run_with_its_heldout_states(tiny_checkpoint, tiny_reacher_h5, tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny_checkpoint, run / "model")
    monkeypatch.setattr(ship, "CHECKPOINTS", tmp_path / "checkpoints")
    (tmp_path / "checkpoints" / "mine").mkdir(parents=True)
    (tmp_path / "checkpoints" / "mine" / "stale.npz").write_bytes(b"old")  # a previous model's file goes
    (tmp_path / "checkpoints" / "mine" / "README.md").write_text("# mine\n")  # people's notes stay
    assert ship.main(["--run", str(run), "--heldout", str(tiny_reacher_h5), "--name", "mine"]) == 0
    dest = tmp_path / "checkpoints" / "mine"
    assert sorted(p.name for p in dest.iterdir()) == ["README.md", "config.yaml", "heldout_states.h5",
                                                      "model.safetensors"]
    assert (dest / "README.md").read_text() == "# mine\n"
    assert LeWM.load(dest).cfg.task == LeWM.load(tiny_checkpoint).cfg.task
    with h5py.File(dest / "heldout_states.h5") as out, h5py.File(tiny_reacher_h5) as src:
        assert "pixels" not in out
        np.testing.assert_array_equal(out["qpos"][:], src["qpos"][:])
    assert not [p for p in (tmp_path / "checkpoints").iterdir() if p.name.startswith(".")]  # no temporary left


def test_refuses_in_one_line(tiny_checkpoint, tiny_reacher_h5, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(ship, "CHECKPOINTS", tmp_path / "checkpoints")
    for argv, message in ((["--name", "x"], "are required"),
                          (["--run", str(tmp_path), "--heldout", str(tiny_reacher_h5), "--name", "x"], "no model/"),
                          (["--run", str(tiny_checkpoint.parent), "--heldout", str(tmp_path / "no.h5"),
                            "--name", "x"], "no model/"),
                          (["--run", str(tmp_path), "--heldout", str(tiny_reacher_h5), "--name", "../x"],
                           "plain folder name"),
                          (["--stamp", str(tmp_path)], "no model.safetensors")):
        capsys.readouterr()
        assert ship.main(argv) == 2, argv
        error = capsys.readouterr().err
        assert error.startswith("lewm-ship: error: ") and message in error and error.count("\n") == 1, error
    assert not (tmp_path / "checkpoints").exists()
