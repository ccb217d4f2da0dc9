"""Copy a trained run into the package as a shipped checkpoint, with its held-out evaluation states.

    python experiments/ship_checkpoint.py --run runs/reacher_cpu --heldout data/reacher_eval.h5 --name reacher

Writes ``world_model/checkpoints/<name>/``: ``config.yaml`` and ``model.safetensors`` (fp16 weights; they load
back as float32), and ``heldout_states.h5``: the state columns (no pixels) of trajectories never used for
training, which ``lewm-eval``'s LeWM protocol draws its start/goal pairs from.

``config.yaml`` carries the SHA-256 of ``model.safetensors`` (``weights_sha256``; ``LeWM.save`` writes it and
``LeWM.load`` checks it). To add or refresh it in shipped checkpoints without touching their weights:

    python experiments/ship_checkpoint.py --stamp world_model/checkpoints/reacher [...]

``--stamp`` also records that digest (``model_sha256``) in the folder's companion files (``proposal.safetensors``,
``subgoal.safetensors``, ``waypoints*.npz``, ``planning.json``), which the agent refuses without it
(``world_model.model.model_identity``). Their tensors and arrays stay bit for bit as they were.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

import h5py
import numpy as np

from world_model import LeWM, LeWMConfig
from world_model.model.checkpoint import CONFIG_NAME, WEIGHTS_NAME
from common.io_utils import atomic_write_text, file_sha256
from world_model.model.model_identity import stamp_file

STATE_COLUMNS = ("qpos", "qvel", "action", "ep_len", "ep_offset")


def stamp_checksum(folder: Path) -> str:
    """Writes the SHA-256 of ``folder/model.safetensors`` into ``folder/config.yaml`` (weights untouched).

    Only the ``weights_sha256`` line changes (appended, or replaced); the rest of the file stays as it was.
    """
    digest = file_sha256(folder / WEIGHTS_NAME)
    lines = (folder / CONFIG_NAME).read_text().splitlines()
    kept = [ln for ln in lines if not ln.startswith("weights_sha256:")]
    atomic_write_text(folder / CONFIG_NAME, "\n".join(kept + [f"weights_sha256: {digest}"]) + "\n")
    LeWM.load(folder)  # checks the checksum, the architecture and that every weight is finite
    for aux in companion_files(folder):
        stamp_file(aux, digest)
    return digest


def companion_files(folder: Path) -> list[Path]:
    """The files in a checkpoint folder built for its model: every ``.safetensors`` but the weights, every
    ``.npz`` (waypoint graphs), ``planning.json``."""
    return sorted([p for p in folder.glob("*.safetensors") if p.name != WEIGHTS_NAME] + list(folder.glob("*.npz"))
                  + [p for p in (folder / "planning.json",) if p.is_file()])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", help="training run folder (holds model/)")
    p.add_argument("--heldout", help="held-out trajectories collected with another seed")
    p.add_argument("--name", help="shipped name, e.g. reacher")
    p.add_argument("--fp32", action="store_true", help="keep float32 weights")
    p.add_argument("--stamp", nargs="+", type=Path, metavar="FOLDER",
                   help="only add/refresh weights_sha256 in these checkpoint folders' config.yaml, and model_sha256 "
                        "in their companion files")
    args = p.parse_args()
    if args.stamp:
        for folder in args.stamp:
            digest = stamp_checksum(folder)
            print(f"{folder}: weights_sha256 {digest}; model_sha256 in "
                  f"{', '.join(p.name for p in companion_files(folder)) or 'no companion files'}")
        return
    if not (args.run and args.heldout and args.name):
        p.error("--run, --heldout and --name are required (or use --stamp FOLDER ...)")
    dest = Path(__file__).resolve().parent.parent / "world_model" / "checkpoints" / args.name
    # A fresh private folder beside the destination (never a fixed name a link could hold), renamed when complete.
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        model = LeWM.load(Path(args.run) / "model")
        model.save(tmp, half=not args.fp32)  # config.yaml gets the new weights' weights_sha256
        with h5py.File(args.heldout, "r") as src, h5py.File(tmp / "heldout_states.h5", "w") as out:
            for col in STATE_COLUMNS:
                out.create_dataset(col, data=src[col][:], compression="gzip")
            for key, value in src.attrs.items():
                out.attrs[key] = value
            out.attrs["pixels_dropped"] = "states only; render frames with the env"
        os.chmod(tmp, 0o755)  # mkdtemp's folder is private
        shutil.rmtree(dest, ignore_errors=True)
        tmp.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # only left when something failed
    size = sum(f.stat().st_size for f in dest.iterdir())
    print(f"shipped {dest} ({size / 1e6:.1f} MB): " + ", ".join(sorted(f.name for f in dest.iterdir())))
    np.testing.assert_equal(LeWM.load(dest).cfg.task, model.cfg.task)  # load checks the checksum too
    assert LeWMConfig.from_yaml(dest / CONFIG_NAME).weights_sha256 == file_sha256(dest / WEIGHTS_NAME)


if __name__ == "__main__":
    main()
