"""Build a shipped model's waypoint graph (``agent.waypoints``) from its training data.

    python experiments/build_waypoints.py --checkpoint world_model/checkpoints/tworoom --data data/tworoom.h5

Encodes every frameskip-th frame of the data with the checkpoint's encoder (whole episodes, up to
``--max-nodes``) and writes ``waypoints.npz`` (float16 embeddings, episode ids, the link and reach radii) into
the checkpoint folder, where ``make_agent(..., waypoints=True)`` and ``--waypoints`` find it; or, with ``--out``, a
graph under another name for ``--waypoint-file`` (the cube's directed graph for OGBench's long tasks:
``--directed --lead 2 --link 0.02 --reach 0.05 --out DIR/waypoints_directed.npz``).

``--from-graph FILE`` rebuilds an existing graph file's nodes under other settings (no data, no encoding): every
setting given on the command line replaces the file's, the rest are kept.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from agent.waypoints import FILE_NAME, WaypointGraph, build_waypoints  # noqa: E402
from world_model import LeWM  # noqa: E402


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, help="the model whose encoder embeds the data (not with --from-graph)")
    p.add_argument("--data", help="the HDF5 dataset the model was trained on (not with --from-graph)")
    p.add_argument("--from-graph", type=Path, help="rebuild this graph file's nodes under the settings given")
    p.add_argument("--max-nodes", type=int, default=8000)
    p.add_argument("--link", type=float, default=None, help="link radius (default 0.1)")
    p.add_argument("--reach", type=float, default=None, help="reach radius (default 0.5)")
    p.add_argument("--space", choices=["latent", "state"], default=None,
                   help="measure distances between embeddings, or between state estimates read off them "
                        "(agent/waypoint_space.py; needs the data's qpos); default latent")
    p.add_argument("--directed", action="store_true",
                   help="follow the data forward in time only; links cost --link-cost blocks (agent/waypoints.py)")
    p.add_argument("--out", type=Path, help="graph file to write (default: CHECKPOINT/waypoints.npz, which the "
                   "agent uses by default; any other name is used with --waypoint-file)")
    p.add_argument("--lead", type=int, default=0,
                   help="aim this many hops along the shortest path (needs --directed; 0: the reachable node "
                        "closest to the goal)")
    p.add_argument("--track", action="store_true",
                   help="with --lead, keep to the path matched at the last replan (agent/waypoints.py)")
    p.add_argument("--link-cost", type=float, default=None,
                   help="directed: blocks a link between near nodes costs (default 1; above 1 paths keep to one "
                        "recording)")
    args = p.parse_args(argv)
    if (args.from_graph is None) == (args.checkpoint is None or args.data is None):
        p.error("give --checkpoint and --data, or --from-graph (with --out)")
    if args.from_graph is not None and (args.out is None or args.space is not None):
        p.error("--from-graph needs --out, and keeps the file's distance space (no --space)")
    given = {k: v for k, v in dict(link=args.link, reach=args.reach, link_cost=args.link_cost).items()
             if v is not None}
    given.update({k: v for k, v in dict(directed=args.directed, lead=args.lead, track=args.track).items() if v})
    started = time.perf_counter()
    if args.from_graph is not None:
        graph = WaypointGraph.load(args.from_graph, **given)
    else:
        graph = build_waypoints(LeWM.load(args.checkpoint), args.data, max_nodes=args.max_nodes,
                                space=args.space or "latent", **{"link": 0.1, "reach": 0.5, **given})
    out = args.out or args.checkpoint / FILE_NAME
    graph.save(out)
    print(f"{len(graph.episode)} nodes from {len(set(graph.episode.tolist()))} episodes, {graph.edges} edges; "
          f"{out} ({out.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
