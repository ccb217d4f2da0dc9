"""Where a 64-px frame of OGBench's cube scene spends its time on a software (llvmpipe) renderer.

    MUJOCO_GL=egl python experiments/bench/bench_render.py [--size 64] [--frames 60] [--out experiments/bench/render]

Each setting runs in its own process (one ``mujoco.Renderer`` per process, reused for every frame, as the envs
do), poses the arm and cube at a fixed data-collection state, and times ``--frames`` frames after a warm-up. A
setting is a set of changes from OGBench's stock look (4096-px shadow map, 4x multisampling, reflections, skybox,
transparent arm); ``LP_NUM_THREADS`` is llvmpipe's rasteriser thread count. Reported per setting: the median ms
per frame (wall clock, and CPU time of all the process's threads, which another job on the machine disturbs
less), and the mean absolute pixel difference (0-255) from the stock frame and from the shipped shadowed look
(``envs.cube.SHADOWED_LOOK``), so that a speed-up that changes what the model sees shows up beside its gain.
Writes ``render.json`` and ``render.md`` under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from common.cpu_info import cpu_label

CHOSEN = {"shadow_size": 512, "multisampling": False, "mesh_cell": 0.01}  # lewm/Cube-v0's look (envs.cube)
# name: changes from OGBench's stock look. Keys: shadow_size (px, None = stock 4096, 0 = no shadows),
# multisampling (bool), reflection, skybox, haze (scene flags), opaque_arm (draw the arm solid), lp_threads.
SETTINGS = {
    "stock (OGBench: 4096 shadow map, 4x MSAA)": {},
    "no multisampling": {"multisampling": False},
    "no shadows, no multisampling (old lewm/Cube-v0)": {"shadow_size": 0, "multisampling": False},
    "shadow map 512, no MSAA (old cube_shadows)": {"shadow_size": 512, "multisampling": False},
    "shadow map 256, no MSAA": {"shadow_size": 256, "multisampling": False},
    "shadow map 1024, no MSAA": {"shadow_size": 1024, "multisampling": False},
    "shadow 512, no MSAA, no reflection": {"shadow_size": 512, "multisampling": False, "reflection": False},
    "shadow 512, no MSAA, no skybox": {"shadow_size": 512, "multisampling": False, "skybox": False},
    "shadow 512, no MSAA, no haze": {"shadow_size": 512, "multisampling": False, "haze": False},
    "shadow 512, no MSAA, opaque arm": {"shadow_size": 512, "multisampling": False, "opaque_arm": True},
    "shadow 512, no MSAA, no reflection/skybox/haze": {"shadow_size": 512, "multisampling": False,
                                                      "reflection": False, "skybox": False, "haze": False},
    "shadow 512, no MSAA, meshes 2 mm": {"shadow_size": 512, "multisampling": False, "mesh_cell": 0.002},
    "shadow 512, no MSAA, meshes 5 mm": {"shadow_size": 512, "multisampling": False, "mesh_cell": 0.005},
    "shadow 512, no MSAA, meshes 10 mm": {"shadow_size": 512, "multisampling": False, "mesh_cell": 0.01},
    "shadow 512, no MSAA, meshes 20 mm": {"shadow_size": 512, "multisampling": False, "mesh_cell": 0.02},
    "shadow 1024, no MSAA, meshes 10 mm": {"shadow_size": 1024, "multisampling": False, "mesh_cell": 0.01},
    "chosen look (shadow 512, no MSAA, meshes 10 mm), LP_NUM_THREADS=1": {**CHOSEN, "lp_threads": 1},
    "chosen look, LP_NUM_THREADS=2": {**CHOSEN, "lp_threads": 2},
    "chosen look, LP_NUM_THREADS=0 (no rasteriser threads)": {**CHOSEN, "lp_threads": 0},
    "chosen look, no reflection/skybox/haze": {**CHOSEN, "reflection": False, "skybox": False, "haze": False},
}
REFERENCE_SHADOWED = "shadow map 512, no MSAA (old cube_shadows)"


def measure(setting: dict, size: int, frames: int) -> dict:
    """Draws one fixed scene ``frames`` times in this process; returns median ms and the frame (nested list)."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    import mujoco
    import numpy as np
    from ogbench.manipspace.envs.cube_env import CubeEnv

    env = CubeEnv(env_type="single", ob_type="pixels", width=size, height=size, visualize_info=False,
                  mode="data_collection", terminate_at_goal=False,
                  pixel_transparent_arm=not setting.get("opaque_arm", False))
    model = env._mjcf_model = env.build_mjcf_model()
    if not setting.get("multisampling", True):
        model.visual.quality.offsamples = 0
    shadow_size = setting.get("shadow_size")
    if shadow_size:
        model.visual.quality.shadowsize = shadow_size
    elif shadow_size == 0:
        model.visual.quality.shadowsize = 1
    env.reset(seed=0)
    if shadow_size == 0:
        env._model.light_castshadow[:] = 0
        env.reset(seed=0)
    if setting.get("mesh_cell"):
        from envs.mesh_detail import coarsen_drawn_meshes

        if env._renderer is not None:  # the renderer holds the meshes it was made with
            env._renderer.close()
            env._renderer = None
        coarsen_drawn_meshes(env._model, setting["mesh_cell"])
    env.render(camera="front_pixels")  # makes the renderer
    flags = env._renderer.scene.flags
    for key, flag in (("reflection", mujoco.mjtRndFlag.mjRND_REFLECTION), ("skybox", mujoco.mjtRndFlag.mjRND_SKYBOX),
                      ("haze", mujoco.mjtRndFlag.mjRND_HAZE)):
        if not setting.get(key, True):
            flags[flag] = 0
    for _ in range(5):
        image = env.render(camera="front_pixels")
    times, cpu_times = [], []
    for _ in range(frames):
        start, cpu_start = time.perf_counter(), time.process_time()
        env.render(camera="front_pixels")
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
    return {"ms": 1000 * float(np.median(times)), "cpu_ms": 1000 * float(np.median(cpu_times)),
            "image": image.tolist()}


def run_setting(name: str, size: int, frames: int) -> dict:
    """Measures one setting in a fresh process (``LP_NUM_THREADS`` must be set before llvmpipe loads)."""
    env = dict(os.environ)
    threads = SETTINGS[name].get("lp_threads")
    if threads is not None:
        env["LP_NUM_THREADS"] = str(threads)
    out = subprocess.run([sys.executable, __file__, "--one", name, "--size", str(size), "--frames", str(frames)],
                         capture_output=True, text=True, check=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64, help="image side, px")
    parser.add_argument("--frames", type=int, default=60, help="frames timed per setting")
    parser.add_argument("--out", default="experiments/bench/render", help="folder for render.json / render.md")
    parser.add_argument("--only", nargs="*", metavar="SUBSTRING",
                        help="measure only the settings whose name contains one of these (stock and "
                             "the old shadowed look are always measured, as the references)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one setting, print JSON
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(SETTINGS[args.one], args.size, args.frames)))
        return
    import numpy as np

    names = [name for name in SETTINGS if not args.only or name in (next(iter(SETTINGS)), REFERENCE_SHADOWED)
             or any(part in name for part in args.only)]
    results = {name: run_setting(name, args.size, args.frames) for name in names}
    stock = np.asarray(results[next(iter(SETTINGS))]["image"], np.float64)
    shadowed = np.asarray(results[REFERENCE_SHADOWED]["image"], np.float64)
    rows = []
    for name, r in results.items():
        image = np.asarray(r["image"], np.float64)
        rows.append({"setting": name, "changes": SETTINGS[name], "ms": round(r["ms"], 2),
                     "cpu_ms": round(r["cpu_ms"], 2),
                     "diff_stock": round(float(np.abs(image - stock).mean()), 2),
                     "diff_shadowed": round(float(np.abs(image - shadowed).mean()), 2)})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"cpu": cpu_label(), "size": args.size, "frames": args.frames,
            "command": "MUJOCO_GL=egl python experiments/bench/bench_render.py " + " ".join(argv or sys.argv[1:])}
    (out / "render.json").write_text(json.dumps({**meta, "rows": rows}, indent=1))
    lines = [f"# Cube scene, {args.size}-px frame: where the time goes", "",
             f"CPU: {meta['cpu']}, 2 cores. Command: `{meta['command']}`. Median of {args.frames} frames, one "
             "renderer reused per process.", "",
             "| setting | ms per frame | CPU ms per frame | mean abs. diff from stock (0-255) | "
             f"from the {REFERENCE_SHADOWED} look |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['setting']} | {r['ms']:.1f} | {r['cpu_ms']:.1f} | {r['diff_stock']:.2f} | "
              f"{r['diff_shadowed']:.2f} |" for r in rows]
    (out / "render.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
