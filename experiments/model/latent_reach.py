"""How far does the latent goal distance see? Embedding distance against physical distance, per shipped model.

    python experiments/model/latent_reach.py --out experiments/model/latent_reach

The planners score candidates by the squared distance between predicted and goal embeddings. For that cost to
lead an agent to a far goal, it must keep falling as the agent gets closer. This renders ``--states`` random
reachable states per task (``env.sample_state``), encodes them with the task's shipped encoder, and for every pair
compares the physical distance (the norm of ``env.state_error``: rad in joint space for reacher, metres for the
position tasks, straight-line, walls ignored) with the squared embedding distance, divided by 2 x embed_dim: the
value two *independent* draws from SIGReg's isotropic unit Gaussian would give. A ratio near 1 means "as unrelated
as two random states": the cost has no slope there. Writes ``latent_reach.md`` (table per task, with the
*reach*: the smallest distance whose bin mean is within 10 % of the farthest bins' level) and ``latent_reach.png``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
import envs  # noqa: E402
from world_model import LeWM  # noqa: E402

BINS = 16
MIN_PAIRS = 30


@torch.inference_mode()
def pair_distances(task: str, states: int, seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    """(physical distances, normalised squared embedding distances, unit) over all pairs of ``states`` states."""
    model = LeWM.load(ROOT / "world_model" / "checkpoints" / task)
    env = envs.make(task, image_size=model.cfg.image_size).unwrapped
    rng = np.random.default_rng(seed)
    qpos = np.stack([env.sample_state(rng) for _ in range(states)])
    frames = np.stack([env.reset(options={"state": q})[0] for q in qpos])
    z = torch.cat([model.encode(torch.as_tensor(chunk)) for chunk in np.array_split(frames, max(1, states // 64))])
    latent = (torch.cdist(z, z) ** 2 / (2 * model.cfg.embed_dim)).numpy()
    i, j = np.triu_indices(states, k=1)
    physical = np.linalg.norm(np.stack([env.state_error(qpos[a], qpos[b]) for a, b in zip(i, j)]), axis=1)
    return physical, latent[i, j], env.error_unit


def reach_table(physical: np.ndarray, latent: np.ndarray) -> tuple[list[dict], float]:
    """Equal-width bins of physical distance (up to its 95th percentile; bins of under ``MIN_PAIRS`` pairs left
    out) with the latent mean and 10/90 % quantiles; and the reach."""
    edges = np.linspace(0, np.quantile(physical, 0.95), BINS + 1)
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = latent[(physical >= lo) & (physical < hi)]
        if sel.size < MIN_PAIRS:
            continue
        rows.append(dict(lo=float(lo), hi=float(hi), pairs=int(sel.size), mean=float(sel.mean()),
                         q10=float(np.quantile(sel, 0.1)), q90=float(np.quantile(sel, 0.9))))
    far = np.mean([r["mean"] for r in rows[-3:]])
    reach = next(r["hi"] for r in rows if r["mean"] >= 0.9 * far)
    return rows, float(reach)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", action="append", help="task (repeatable); default: all shipped tasks")
    p.add_argument("--states", type=int, default=400)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("latent_reach"))
    args = p.parse_args()
    tasks = args.env or ["reacher", "pointmass", "tworoom"]
    args.out.mkdir(parents=True, exist_ok=True)
    command = "python experiments/" + " ".join([Path(sys.argv[0]).name] + sys.argv[1:])
    lines = ["# Latent goal distance against physical distance", "", f"Command: `{command}`", "",
             f"{args.states} random states per task, all pairs; squared embedding distance / (2 x embed_dim) "
             "(1.0 = two independent unit-Gaussian embeddings). Bins of equal width up to the 95th percentile of "
             "distance.", ""]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        physical, latent, unit = pair_distances(task, args.states, args.seed)
        rows, reach = reach_table(physical, latent)
        lines += [f"## {task} (distance in {unit}; reach **{reach:.2f} {unit}**)", "",
                  f"| physical distance ({unit}) | pairs | latent distance / 2D: mean | 10 % | 90 % |",
                  "|---|---|---|---|---|"]
        lines += [f"| {r['lo']:.3f}–{r['hi']:.3f} | {r['pairs']} | {r['mean']:.2f} | {r['q10']:.2f} | "
                  f"{r['q90']:.2f} |" for r in rows]
        lines.append("")
        centres = [(r["lo"] + r["hi"]) / 2 for r in rows]
        ax.plot(centres, [r["mean"] for r in rows], "o-")
        ax.fill_between(centres, [r["q10"] for r in rows], [r["q90"] for r in rows], alpha=0.25)
        ax.axhline(1.0, color="grey", lw=0.8, ls="--")
        ax.axvline(reach, color="red", lw=0.8, ls=":")
        ax.set_title(f"{task}: reach {reach:.2f} {unit}")
        ax.set_xlabel(f"physical distance ({unit})")
        ax.set_ylabel("latent sq. distance / 2D")
        print(f"{task}: reach {reach:.3f} {unit}", flush=True)
    fig.tight_layout()
    fig.savefig(args.out / "latent_reach.png", dpi=110)
    figure = "\n![latent vs physical](latent_reach.png)\n"
    (args.out / "latent_reach.md").write_text("\n".join(lines) + figure)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
