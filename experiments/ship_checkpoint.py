"""Copy a trained run into the package as a shipped checkpoint, with its held-out evaluation states.

    python experiments/ship_checkpoint.py --run runs/reacher_cpu --heldout data/reacher_eval.h5 --name reacher

Writes ``world_model/checkpoints/<name>/``: ``config.yaml`` and ``model.safetensors`` (fp16 weights; they load
back as float32), and ``heldout_states.h5``: the state columns (no pixels) of trajectories never used for
training, which ``lewm-eval``'s LeWM protocol draws its start/goal pairs from.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import h5py
import numpy as np

from world_model import LeWM

STATE_COLUMNS = ("qpos", "qvel", "action", "ep_len", "ep_offset")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, help="training run folder (holds model/)")
    p.add_argument("--heldout", required=True, help="held-out trajectories collected with another seed")
    p.add_argument("--name", required=True, help="shipped name, e.g. reacher")
    p.add_argument("--fp32", action="store_true", help="keep float32 weights")
    args = p.parse_args()
    dest = Path(__file__).resolve().parent.parent / "world_model" / "checkpoints" / args.name
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model = LeWM.load(Path(args.run) / "model")
    model.save(tmp, half=not args.fp32)
    with h5py.File(args.heldout, "r") as src, h5py.File(tmp / "heldout_states.h5", "w") as out:
        for col in STATE_COLUMNS:
            out.create_dataset(col, data=src[col][:], compression="gzip")
        for key, value in src.attrs.items():
            out.attrs[key] = value
        out.attrs["pixels_dropped"] = "states only; render frames with the env"
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    size = sum(f.stat().st_size for f in dest.iterdir())
    print(f"shipped {dest} ({size / 1e6:.1f} MB): " + ", ".join(sorted(f.name for f in dest.iterdir())))
    np.testing.assert_equal(LeWM.load(dest).cfg.task, model.cfg.task)


if __name__ == "__main__":
    main()
