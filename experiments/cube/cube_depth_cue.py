"""How well does one 64-px frame of the cube scene tell where the gripper is, with and without shadows?

The cube's OGBench tasks fail at the reach: from OGBench's start pose the agent lowers the gripper short of the
cube instead of moving it forward (``experiments/cube/cube_oracle_subgoals.py``). The front camera looks down at the
table, so moving the gripper forward (x) and moving it down (z) both move it down the image; what separates them
is its apparent size and, in OGBench's own look, its shadow on the table, which ``lewm/Cube-v0`` turns off to
render 5x faster on a CPU. This measures that: frames of the held-out oracle episodes (``heldout_states.h5`` of the
shipped checkpoint) are rendered without shadows (our setting) and with them (a 512-px shadow map, no
multisampling), and the same small CNN is trained on each to read the gripper's and the cube's x, y, z; the score
is the held-out R^2 per coordinate (whole episodes held out). The shipped model's latent is probed the same way
(an MLP on the embeddings of the shadowless frames), and with ``--shadow-checkpoint`` a model trained on shadowed
frames on those.

    MUJOCO_GL=egl python experiments/cube/cube_depth_cue.py --out experiments/cube/cube_depth_cue.json
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

TARGETS = ("gripper x", "gripper y", "gripper z", "cube x", "cube y", "cube z")


def render(states: Path, rows: np.ndarray, shadows: bool, out: Path) -> None:
    """Renders ``rows`` of the states file and writes frames (N, 64, 64, 3) and positions (N, 6) to ``out``."""
    import h5py

    from envs.cube import CUBE_XYZ, CubeEnv

    env = CubeEnv(shadows=shadows)  # shadows=False: the retired flat look, for the comparison
    env.reset(seed=0)
    with h5py.File(states) as f:
        qpos = f["qpos"][:][rows]
    frames, pos = [], []
    for q in qpos:
        frames.append(env.render_state(q))
        env.set_state(q)
        pos.append(np.concatenate([env.compute_ob_info()["proprio/effector_pos"], q[CUBE_XYZ]]))
    np.savez(out, frames=np.stack(frames), pos=np.stack(pos))


def r2(pred: np.ndarray, true: np.ndarray) -> list[float]:
    return (1 - ((pred - true) ** 2).sum(0) / ((true - true.mean(0)) ** 2).sum(0)).round(3).tolist()


def fit(net: nn.Module, x_train, y_train, x_test, steps: int, seed: int) -> np.ndarray:
    """Adam on the MSE of standardised targets; returns the test predictions in the targets' units."""
    torch.manual_seed(seed)
    mean, std = y_train.mean(0), y_train.std(0)
    y = torch.from_numpy((y_train - mean) / std).float()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        i = torch.randint(0, len(x_train), (64,), generator=gen)
        loss = (net(x_train[i]) - y[i]).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    with torch.inference_mode():
        return net(x_test).numpy() * std + mean


def small_cnn() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 32, 4, 2, 1), nn.GELU(), nn.Conv2d(32, 64, 4, 2, 1), nn.GELU(),
                         nn.Conv2d(64, 64, 4, 2, 1), nn.GELU(), nn.Conv2d(64, 64, 3, 1, 1), nn.GELU(),
                         nn.Flatten(), nn.Linear(64 * 8 * 8, 256), nn.GELU(), nn.Linear(256, len(TARGETS)))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default="world_model/checkpoints/cube")
    p.add_argument("--shadow-checkpoint", help="also probe this model's latent (trained on shadowed frames, e.g. "
                   "world_model/checkpoints/cube, today's look) on the shadowed frames")
    p.add_argument("--every", type=int, default=7, help="use every this many-th held-out frame")
    p.add_argument("--test-episodes", type=int, default=10, help="last episodes held out from the probes")
    p.add_argument("--steps", type=int, default=3000, help="probe training steps")
    p.add_argument("--out", help="JSON file for the results")
    p.add_argument("--render", nargs=2, help=argparse.SUPPRESS)  # internal: SHADOWS(0/1) OUT
    args = p.parse_args(argv)
    states = Path(args.checkpoint) / "heldout_states.h5"
    import h5py

    with h5py.File(states) as f:
        ep_offset, ep_len = f["ep_offset"][:], f["ep_len"][:]
    rows = np.concatenate([np.arange(o, o + n, args.every) for o, n in zip(ep_offset, ep_len)])
    if args.render:
        render(states, rows, args.render[0] == "1", Path(args.render[1]))
        return 0

    torch.set_num_threads(1)
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        outs = {s: Path(tmp) / f"shadows{s}.npz" for s in (0, 1)}
        jobs = [subprocess.Popen([sys.executable, __file__, "--checkpoint", args.checkpoint, "--every",
                                  str(args.every), "--render", str(s), str(out)]) for s, out in outs.items()]
        if any(j.wait() for j in jobs):
            raise SystemExit("rendering failed")
        data = {s: dict(np.load(out)) for s, out in outs.items()}
    render_s = time.time() - t0
    episode = np.searchsorted(ep_offset, rows, side="right") - 1
    test = episode >= len(ep_offset) - args.test_episodes
    results = {"frames": int(len(rows)), "test_frames": int(test.sum()), "targets": TARGETS,
               "render_seconds": round(render_s)}
    for s, d in data.items():
        x = torch.from_numpy(d["frames"]).permute(0, 3, 1, 2).float() / 255
        pred = fit(small_cnn(), x[~test], d["pos"][~test], x[test], args.steps, seed=0)
        results[f"pixels, shadows {'on' if s else 'off'}"] = dict(zip(TARGETS, r2(pred, d["pos"][test])))
        print(s, results[f"pixels, shadows {'on' if s else 'off'}"], flush=True)

    from world_model import LeWM

    probes = {"shipped latent (shadows off)": (args.checkpoint, 0)}
    if args.shadow_checkpoint:
        probes[f"{args.shadow_checkpoint} latent (shadows on)"] = (args.shadow_checkpoint, 1)
    for name, (checkpoint, s) in probes.items():
        model = LeWM.load(checkpoint).eval()
        with torch.inference_mode():
            z = model.encode(torch.from_numpy(data[s]["frames"])).float()
        mlp = nn.Sequential(nn.Linear(z.shape[1], 256), nn.GELU(), nn.Linear(256, 256), nn.GELU(),
                            nn.Linear(256, len(TARGETS)))
        pred = fit(mlp, z[~test], data[s]["pos"][~test], z[test], args.steps, seed=0)
        results[name] = dict(zip(TARGETS, r2(pred, data[s]["pos"][test])))
    print(json.dumps(results, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
