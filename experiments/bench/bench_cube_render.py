"""How long OGBench's cube scene takes to draw on this machine, per rendering setting (the choice behind
``lewm/Cube-v0``'s defaults: ``experiments/cube/cube.md``).

    python experiments/bench/bench_cube_render.py [--size 64] [--frames 40]

Each setting runs in its own process (one MuJoCo renderer per process), draws ``--frames`` frames of the same
scene and reports the median milliseconds per frame and the mean absolute pixel difference (0-255) from OGBench's
stock look (4096-px shadow map, 4x multisampling).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

SETTINGS = {  # name: (shadows, multisampling, shadow map size or None for OGBench's)
    "stock (OGBench)": (True, True, None),
    "shadow map 512, no multisampling": (True, False, 512),
    "no shadows": (False, True, None),
    "no shadows, no multisampling (lewm/Cube-v0)": (False, False, None),
}


def measure(shadows: bool, multisampling: bool, shadow_size, size: int, frames: int) -> dict:
    """Draws one scene ``frames`` times; returns the median ms per frame and the frame (a nested list)."""
    import os
    import time

    os.environ.setdefault("MUJOCO_GL", "egl")
    import numpy as np
    from ogbench.manipspace.envs.cube_env import CubeEnv

    env = CubeEnv(env_type="single", ob_type="pixels", width=size, height=size, visualize_info=False,
                  mode="data_collection", terminate_at_goal=False)
    model = env._mjcf_model = env.build_mjcf_model()
    if not multisampling:
        model.visual.quality.offsamples = 0
    if shadow_size:
        model.visual.quality.shadowsize = shadow_size
    env.reset(seed=0)
    if not shadows:
        env._model.light_castshadow[:] = 0
    env.reset(seed=0)
    image = env.render(camera="front_pixels")
    times = []
    for _ in range(frames):
        start = time.perf_counter()
        env.render(camera="front_pixels")
        times.append(time.perf_counter() - start)
    return {"ms": 1000 * float(np.median(times)), "image": image.tolist()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64, help="image side, px")
    parser.add_argument("--frames", type=int, default=40, help="frames timed per setting")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one setting, print JSON
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(*SETTINGS[args.one], args.size, args.frames)))
        return
    import numpy as np

    results = {}
    for name in SETTINGS:
        out = subprocess.run([sys.executable, __file__, "--one", name, "--size", str(args.size), "--frames",
                              str(args.frames)], capture_output=True, text=True, check=True).stdout
        results[name] = json.loads(out.strip().splitlines()[-1])
    stock = np.asarray(results["stock (OGBench)"]["image"], np.float64)
    print(f"| setting ({args.size} px) | ms per frame | mean abs. difference from stock (0-255) |")
    print("|---|---|---|")
    for name, r in results.items():
        diff = np.abs(np.asarray(r["image"], np.float64) - stock).mean()
        print(f"| {name} | {r['ms']:.0f} | {diff:.1f} |")


if __name__ == "__main__":
    main()
