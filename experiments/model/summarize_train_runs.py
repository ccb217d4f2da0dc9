"""Tabulates (and plots) lewm-train runs from their ``log.jsonl`` and ``probe.json``.

Usage::

    python experiments/model/summarize_train_runs.py runs/reacher_cpu runs/reacher_lambda0 \
        --out experiments/model/world_model_runs.md [--plot experiments/model/world_model_runs.png]

For each run: the held-out evaluations (prediction error, SIGReg statistic, embedding std, effective rank),
the mean training loss terms over each evaluation interval, throughput, and the final linear probe.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def load_run(folder: Path) -> dict:
    """Records of one run folder, grouped by kind, plus its probe (None when the run did not finish)."""
    recs = [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines() if line.strip()]
    probe = folder / "probe.json"
    return {"name": folder.name, "meta": next((r for r in recs if r["kind"] == "meta"), {}),
            "train": [r for r in recs if r["kind"] == "train"], "eval": [r for r in recs if r["kind"] == "eval"],
            "probe": json.loads(probe.read_text()) if probe.exists() else None}


def _interval_means(train: list, lo: int, hi: int) -> dict:
    rows = [r for r in train if lo < r["step"] <= hi]
    if not rows:
        return {}
    return {k: sum(r[k] for r in rows) / len(rows) for k in ("pred", "sigreg", "total", "samples_per_s")}


def run_table(run: dict) -> str:
    """Markdown: one row per evaluation."""
    cfg = run["meta"].get("config", {})
    lines = [f"### {run['name']}", "",
             f"lambda {cfg.get('sigreg_lambda')}, encoder {cfg.get('encoder')}, batch {cfg.get('batch_size')}, "
             f"steps {cfg.get('steps')}, precision {run['meta'].get('precision')}, "
             f"{run['meta'].get('params', 0) / 1e6:.2f} M parameters", "",
             "| step | train pred | train SIGReg | val pred | val pred / emb var | val SIGReg | emb std mean "
             "| emb std min | eff. rank | samples/s |", "|---|---|---|---|---|---|---|---|---|---|"]
    prev = 0
    for e in run["eval"]:
        m = _interval_means(run["train"], prev, e["step"])
        prev = e["step"]
        fmt = lambda k, p=4: f"{m[k]:.{p}f}" if k in m else "-"  # noqa: E731
        rel = f"{e['val_pred_rel']:.3f}" if "val_pred_rel" in e else "-"
        lines.append(f"| {e['step']} | {fmt('pred')} | {fmt('sigreg', 3)} | {e['val_pred']:.4f} | {rel} | "
                     f"{e['val_sigreg']:.3f} | {e['std_mean']:.3f} | {e['std_min']:.3f} | {e['eff_rank']:.1f} | "
                     f"{fmt('samples_per_s', 1)} |")
    p = run["probe"]
    if p:
        cols = ", ".join(f"{n} r={r:.4f} R²={q:.4f}" for n, r, q in zip(p["targets"], p["pearson_r"], p["r2"]))
        lines += ["", f"Linear probe on {p['n_val']} held-out frames: mean Pearson r {p['pearson_r_mean']:.4f}, "
                      f"mean R² {p['r2_mean']:.4f} ({cols})."]
    return "\n".join(lines) + "\n"


def plot(runs: list, path: Path) -> None:
    """Val prediction error, SIGReg and effective rank against step, one line per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for run in runs:
        steps = [e["step"] for e in run["eval"]]
        for ax, key in zip(axes, ("val_pred", "val_sigreg", "eff_rank")):
            ax.plot(steps, [e[key] for e in run["eval"]], marker="o", ms=3, label=run["name"])
            ax.set_title(key)
            ax.set_xlabel("step")
    axes[0].set_yscale("log")
    axes[1].set_yscale("log")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True, help="Markdown output")
    ap.add_argument("--plot", type=Path, default=None, help="PNG output")
    args = ap.parse_args()
    runs = [load_run(r) for r in args.runs]
    args.out.write_text("# lewm-train runs\n\n" + "\n".join(run_table(r) for r in runs))
    if args.plot:
        plot(runs, args.plot)


if __name__ == "__main__":
    main()
