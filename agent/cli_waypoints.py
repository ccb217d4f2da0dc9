"""``lewm-waypoints``: build a model's waypoint graph (``agent.waypoints``) from its training data.

    lewm-waypoints --checkpoint world_model/checkpoints/tworoom --data data/tworoom.h5
    lewm-waypoints --checkpoint CKPT --data data/cube.h5 --directed --lead 2 --out CKPT/waypoints_directed.npz
    lewm-waypoints --from-graph CKPT/waypoints.npz --link-cost 2 --out CKPT/waypoints_cost2.npz

Encodes every frameskip-th frame of the data with the checkpoint's encoder (whole episodes, up to ``--max-nodes``)
and writes ``waypoints.npz`` (float16 embeddings, episode ids, the link and reach radii, the model's checksum) into
the checkpoint folder, where ``lewm-plan`` / ``lewm-eval`` (``--waypoints``) find it; or, with ``--out``, a graph
under another name for ``--waypoints FILE``. ``--from-graph FILE`` rebuilds an existing graph file's nodes under
other settings (no data, no encoding): every setting given replaces the file's, the rest are kept.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from common.cli_errors import UserInputError, run_cli

PROG = "lewm-waypoints"


def build_parser() -> argparse.ArgumentParser:
    from common.cli_help import essentials, help_style

    p = argparse.ArgumentParser(**help_style(PROG, __doc__))
    first = essentials(p)
    first.add_argument("--checkpoint", type=Path, metavar="DIR",
                       help="the model whose encoder embeds the data (not with --from-graph)")
    first.add_argument("--data", metavar="FILE", help="the HDF5 dataset the model was trained on (not with "
                       "--from-graph)")
    first.add_argument("--out", type=Path, metavar="FILE", help="graph file to write (default: "
                       "CHECKPOINT/waypoints.npz, which the agent uses by default; any other name is used with "
                       "--waypoints FILE)")
    graph = p.add_argument_group("the graph")
    graph.add_argument("--link", type=float, default=None, metavar="X", help="link radius (default 0.1)")
    graph.add_argument("--reach", type=float, default=None, metavar="X", help="reach radius (default 0.5)")
    graph.add_argument("--space", choices=["latent", "state"], default=None,
                       help="measure distances between embeddings, or between state estimates read off them "
                            "(needs the data's qpos); default latent")
    graph.add_argument("--max-nodes", type=int, default=8000, metavar="N",
                       help="encode whole episodes up to this many nodes")
    graph.add_argument("--from-graph", type=Path, metavar="FILE",
                       help="rebuild this graph file's nodes under the settings given")
    directed = p.add_argument_group("a directed graph")
    directed.add_argument("--directed", action="store_true",
                          help="follow the data forward in time only; links cost --link-cost blocks")
    directed.add_argument("--lead", type=int, default=0, metavar="N",
                          help="aim this many hops along the shortest path (needs --directed; 0: the reachable node "
                               "closest to the goal)")
    directed.add_argument("--track", action="store_true",
                          help="with --lead, keep to the path matched at the last replan")
    directed.add_argument("--link-cost", type=float, default=None, metavar="X",
                          help="directed: blocks a link between near nodes costs (default 1; above 1 paths keep to "
                               "one recording)")
    p.add_argument_group("output").add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p


def _main(argv) -> int:
    args = build_parser().parse_args(argv)
    if (args.from_graph is None) == (args.checkpoint is None or args.data is None):
        raise UserInputError("give --checkpoint and --data, or --from-graph (with --out)")
    if args.from_graph is not None and (args.out is None or args.space is not None):
        raise UserInputError("--from-graph needs --out, and keeps the file's distance space (no --space)")
    if args.max_nodes < 1:
        raise UserInputError(f"--max-nodes must be at least 1, got {args.max_nodes}")
    from agent.waypoints import FILE_NAME, WaypointGraph, build_waypoints
    from world_model import LeWM

    given = {k: v for k, v in dict(link=args.link, reach=args.reach, link_cost=args.link_cost).items()
             if v is not None}
    given.update({k: v for k, v in dict(directed=args.directed, lead=args.lead, track=args.track).items() if v})
    started = time.perf_counter()
    if args.from_graph is not None:
        graph = WaypointGraph.load(args.from_graph, **given)
    else:
        graph = build_waypoints(LeWM.load(args.checkpoint), args.data, max_nodes=args.max_nodes,
                                space=args.space or "latent", progress=not args.no_progress,
                                **{"link": 0.1, "reach": 0.5, **given})
    out = args.out or args.checkpoint / FILE_NAME
    graph.save(out)
    print(f"{len(graph.episode)} nodes from {len(set(graph.episode.tolist()))} episodes, {graph.edges} edges; "
          f"{out} ({out.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - started:.0f} s")
    return 0


def main(argv=None) -> int:
    """Console entry point ``lewm-waypoints``; returns the exit status."""
    return run_cli(PROG, _main, argv)


if __name__ == "__main__":
    sys.exit(main())
