"""``lewm-ship``: copy a trained run into the package as a shipped checkpoint, with its held-out evaluation states.

    lewm-ship --run runs/reacher_cpu --heldout data/reacher_eval.h5 --name reacher
    lewm-ship --stamp world_model/checkpoints/reacher

Writes ``world_model/checkpoints/<name>/`` (replacing what was there): ``config.yaml`` and ``model.safetensors``
(fp16 weights; they load back as float32), and ``heldout_states.h5``: the state columns (no pixels) of trajectories
never used for training, which ``lewm-eval``'s LeWM protocol draws its start/goal pairs from.

``config.yaml`` carries the SHA-256 of ``model.safetensors`` (``weights_sha256``; ``LeWM.save`` writes it and
``LeWM.load`` checks it). ``--stamp FOLDER ...`` adds or refreshes it in shipped checkpoints without touching their
weights, and records that digest (``model_sha256``) in the folder's companion files (``proposal.safetensors``,
``subgoal.safetensors``, ``value.safetensors``, ``waypoints*.npz``, ``planning.json``), which the agent refuses
without it (``world_model.model.model_identity``). Their tensors and arrays stay bit for bit as they were.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from common.cli_errors import UserInputError, run_cli
from common.io_utils import atomic_write_text, file_sha256
from world_model.model.checkpoint import CONFIG_NAME, WEIGHTS_NAME
from world_model.model.config import LeWMConfig
from world_model.model.lewm import LeWM
from world_model.model.model_identity import stamp_file

PROG = "lewm-ship"
STATE_COLUMNS = ("qpos", "qvel", "action", "ep_len", "ep_offset")
# The package's shipped models (world_model/checkpoints/<name>), where ``--name`` writes.
CHECKPOINTS = Path(__file__).resolve().parents[1] / "checkpoints"


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


def build_parser() -> argparse.ArgumentParser:
    from common.cli_help import essentials, help_style

    p = argparse.ArgumentParser(**help_style(PROG, __doc__))
    first = essentials(p)
    first.add_argument("--run", type=Path, metavar="DIR", help="training run folder (holds model/)")
    first.add_argument("--heldout", type=Path, metavar="FILE",
                       help="held-out trajectories collected with another seed (.h5)")
    first.add_argument("--name", help="shipped name, e.g. reacher: the folder world_model/checkpoints/NAME")
    p.add_argument_group("weights").add_argument("--fp32", action="store_true",
                                                 help="keep float32 weights (default: fp16)")
    p.add_argument_group("checksums only").add_argument(
        "--stamp", nargs="+", type=Path, metavar="FOLDER",
        help="only add/refresh weights_sha256 in these checkpoint folders' config.yaml, and model_sha256 in their "
             "companion files")
    return p


def ship(run: Path, heldout: Path, dest: Path, half: bool = True) -> LeWM:
    """Writes ``run/model`` (fp16 when ``half``) and ``heldout``'s state columns into the folder ``dest``, replacing
    it whole only once the new folder is complete; returns the model as loaded from the run.

    The files built for the old weights (proposal, value, waypoint graphs, ``planning.json``) go with them; the
    folder's ``README.md``, written by people, is carried over (update it for the new model)."""
    import h5py

    model = LeWM.load(run / "model")
    with h5py.File(heldout, "r") as src:
        missing = [col for col in STATE_COLUMNS if col not in src]
    if missing:
        raise UserInputError(f"--heldout {heldout} lacks {', '.join(missing)}: give a lewm-collect dataset")
    dest.parent.mkdir(parents=True, exist_ok=True)
    # A fresh private folder beside the destination (never a fixed name a link could hold), renamed when complete.
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        model.save(tmp, half=half)  # config.yaml gets the new weights' weights_sha256
        with h5py.File(heldout, "r") as src, h5py.File(tmp / "heldout_states.h5", "w") as out:
            for col in STATE_COLUMNS:
                out.create_dataset(col, data=src[col][:], compression="gzip")
            for key, value in src.attrs.items():
                out.attrs[key] = value
            out.attrs["pixels_dropped"] = "states only; render frames with the env"
        if (dest / "README.md").is_file():
            shutil.copyfile(dest / "README.md", tmp / "README.md")
        os.chmod(tmp, 0o755)  # mkdtemp's folder is private
        shutil.rmtree(dest, ignore_errors=True)
        tmp.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # only left when something failed
    return model


def _main(argv) -> int:
    args = build_parser().parse_args(argv)
    if args.stamp:
        for folder in args.stamp:
            if not (folder / WEIGHTS_NAME).is_file():
                raise UserInputError(f"--stamp {folder}: no {WEIGHTS_NAME} there (give checkpoint folders)")
            digest = stamp_checksum(folder)
            print(f"{folder}: weights_sha256 {digest}; model_sha256 in "
                  f"{', '.join(p.name for p in companion_files(folder)) or 'no companion files'}")
        return 0
    if not (args.run and args.heldout and args.name):
        raise UserInputError("--run, --heldout and --name are required (or --stamp FOLDER ...)")
    if Path(args.name).name != args.name or args.name.startswith("."):
        raise UserInputError(f"--name {args.name!r}: a plain folder name, e.g. reacher")
    if not (args.run / "model").is_dir():
        raise UserInputError(f"--run {args.run}: no model/ folder there (give a lewm-train --out folder)")
    if not args.heldout.is_file():
        raise UserInputError(f"--heldout {args.heldout}: no such file")
    dest = CHECKPOINTS / args.name
    model = ship(args.run, args.heldout, dest, half=not args.fp32)
    size = sum(f.stat().st_size for f in dest.iterdir())
    print(f"shipped {dest} ({size / 1e6:.1f} MB): " + ", ".join(sorted(f.name for f in dest.iterdir())))
    if LeWM.load(dest).cfg.task != model.cfg.task:  # load checks the checksum too
        raise RuntimeError(f"{dest} does not load back as the run's task {model.cfg.task!r}")
    if LeWMConfig.from_yaml(dest / CONFIG_NAME).weights_sha256 != file_sha256(dest / WEIGHTS_NAME):
        raise RuntimeError(f"{dest}: weights_sha256 does not match {WEIGHTS_NAME}")
    return 0


def main(argv=None) -> int:
    """Console entry point ``lewm-ship``; returns the exit status."""
    return run_cli(PROG, _main, argv)


if __name__ == "__main__":
    sys.exit(main())
