"""Waypoints for far goals: a graph over embeddings of the training data, searched once per goal.

The latent goal cost only has a slope near the goal: beyond a task-specific *reach* (about 1.4 rad for reacher,
0.14 m for the point tasks; ``experiments/model/latent_reach``) two embeddings are as far apart as two random
ones, so a planner cannot tell which way a far goal lies, and in Two-Room the cost even rises on the way. The
data knows the way: its trajectories connect the states they visited. This module keeps the embeddings of the
training frames at action-block spacing as graph nodes, links each to the next block of its trajectory (the data
moved there in one block) and to any node within ``link`` of it in latent space, and finds, once per goal, every
node's distance to the goal along the graph (scipy's Dijkstra). At each replan the agent then aims at the node
*within reach of where it is* that lies closest to the goal along the graph, and at the goal itself once the goal
is within reach.

Distances in latent space are squared Euclidean divided by ``2 * D``: 1.0 is the distance of two independent
draws of SIGReg's isotropic unit Gaussian (no relation), 0 is the same embedding.

A graph may instead measure distances in a *space*: an affine map of the embeddings to K z-scored state estimates
(``agent.waypoint_space``), with the same normalisation (``2 * K``). Where one part of the scene takes a small share
of the latent (the cube beside the arm), latent neighbours can differ in exactly that part, and a path through
them moves it for free; in state units every part weighs alike. Targets handed to the planner stay embeddings.

A *directed* graph follows its data forward in time only (a link still joins two near nodes both ways, at a
cost of ``link_cost`` blocks, 1 by default), so a path moves things only as some trajectory of the data moved them:
the cube on a table is moved by the segments that picked it up, not by a chain of neighbours that each differ in it
by a little.
With ``lead`` > 0 the agent aims, at each replan, at the node ``lead`` hops along the shortest path from the node
nearest its current embedding (test-time graph search over the data, as arXiv 2510.07257 does for OGBench's
policies), instead of at the reachable node closest to the goal. With ``track`` it also remembers, per goal, the
node it matched last, and matches the next frame among that node and the next ``lead + 2`` along its path, unless
the nearest node anywhere is nearer by more than ``reach`` (the agent left the path): one recording is then
followed instead of a new one picked at every replan.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

FILE_NAME = "waypoints.npz"


def normalised_sq_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N, D), (M, D) -> (N, M) squared Euclidean distances / (2 D)."""
    return torch.cdist(a.float(), b.float()).square_() / (2 * a.shape[-1])


class WaypointGraph:
    """Nodes: embeddings of data frames one action block apart; edges: data transitions and latent neighbours.

    Args:
        nodes: (M, D) embeddings.
        episode: (M,) episode id of each node; consecutive nodes of one episode are one action block apart.
        link: latent distance (normalised, see the module docstring) under which two nodes are linked.
        reach: latent distance under which a node (or the goal) counts as within reach of the agent: the
            planner is given the goal itself when it is that close, else the best waypoint that close.
        chunk: rows per block of the pairwise-distance computation (memory: chunk x M floats).
        space: optional (w (D, K), b (K,)) arrays: distances are then measured between ``z @ w + b``.
        directed: data edges run forward in time only; links cost one block each (see the module docstring).
        lead: hops along the shortest path to aim at (0: the reachable node closest to the goal).
        track: with ``lead``, keep to the path matched at the last replan (see the module docstring).
        link_cost: directed graphs: what a link between two near nodes costs, in blocks (a data step costs 1);
            above 1 a path keeps to one recording unless switching saves that much.
    """

    def __init__(self, nodes: torch.Tensor, episode: np.ndarray, link: float = 0.1, reach: float = 0.5,
                 chunk: int = 2048, space: tuple[np.ndarray, np.ndarray] | None = None, directed: bool = False,
                 lead: int = 0, track: bool = False, link_cost: float = 1.0, model_sha256: str | None = None):
        from scipy.sparse import coo_matrix

        self.model_sha256 = model_sha256  # the weights digest of the model whose embeddings the nodes are

        if nodes.ndim != 2 or len(episode) != nodes.shape[0]:
            raise ValueError(f"nodes must be (M, D) with one episode id per node; got {tuple(nodes.shape)} and "
                             f"{len(episode)} ids")
        if not 0 < link < reach:
            raise ValueError(f"need 0 < link < reach, got link={link}, reach={reach}")
        if lead < 0 or (lead and not directed):
            raise ValueError(f"lead must be >= 0 and needs a directed graph, got lead={lead}, directed={directed}")
        if track and not lead:
            raise ValueError("track follows a path: it needs lead > 0")
        if not link_cost > 0 or (link_cost != 1 and not directed):
            raise ValueError(f"link_cost must be > 0, and other than 1 only in a directed graph; got {link_cost}")
        self.link_cost = float(link_cost)
        self.directed, self.lead, self.track = bool(directed), int(lead), bool(track)
        self._last: dict[str, int] = {}  # goal fingerprint -> node matched at the last replan (track)
        self.nodes = nodes.float().cpu()
        self.space = None if space is None else tuple(torch.as_tensor(np.asarray(a), dtype=torch.float32)
                                                      for a in space)
        if self.space is not None and self.space[0].shape[0] != self.nodes.shape[1]:
            raise ValueError(f"the distance space maps {self.space[0].shape[0]}-D embeddings; the nodes are "
                             f"{self.nodes.shape[1]}-D")
        self.keys = self._key(self.nodes)  # (M, D) or (M, K): where distances are measured
        self.episode = np.asarray(episode, dtype=np.int64)
        self.link, self.reach = float(link), float(reach)
        m = len(self.episode)
        same = np.flatnonzero(self.episode[1:] == self.episode[:-1])  # i -> i+1 within an episode
        rows, cols, weights = [same], [same + 1], [np.ones(len(same))]
        for start in range(0, m, chunk):
            d = normalised_sq_distance(self.keys[start:start + chunk], self.keys).numpy()
            r, c = np.nonzero(d < self.link)
            # undirected: each pair once (in (0, 1): a close neighbour is cheaper than a block); directed: both
            # ways, link_cost blocks each (1: a chain of links costs what the data's own moves cost)
            keep = c != r + start if directed else c > r + start
            rows.append(r[keep] + start)
            cols.append(c[keep])
            weights.append(np.full(int(keep.sum()), self.link_cost) if directed
                           else d[r[keep], c[keep]] / self.link)
        rows, cols, weights = (np.concatenate(x) for x in (rows, cols, weights))
        self.graph = coo_matrix((np.maximum(weights, 1e-6), (rows, cols)), shape=(m, m)).tocsr()
        self.edges = len(rows)
        self._backward = self.graph.T.tocsr() if directed else self.graph  # what the goal's search runs on
        self._to_goal: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    # ----------------------------------------------------------------- files
    @classmethod
    def load(cls, path, **overrides) -> "WaypointGraph":
        """Reads a ``waypoints.npz`` (a file, or the checkpoint folder holding one); ``model_sha256`` is the digest
        of the model it was built for (None in files from before it was recorded)."""
        import zipfile

        from common.cli_errors import UserInputError
        from world_model.model.model_identity import MODEL_KEY

        path = Path(path)
        path = path / FILE_NAME if path.is_dir() else path
        try:
            with np.load(path) as f:
                settings = dict(link=float(f["link"]), reach=float(f["reach"]))
                if "directed" in f:
                    settings.update(directed=bool(f["directed"]), lead=int(f["lead"]))
                if "track" in f:
                    settings.update(track=bool(f["track"]))
                if "link_cost" in f:
                    settings.update(link_cost=float(f["link_cost"]))
                if MODEL_KEY in f:
                    settings.update(model_sha256=str(f[MODEL_KEY]))
                nodes, episode = f["nodes"].astype(np.float32), f["episode"]
                if "space_w" in f:
                    settings["space"] = (f["space_w"].astype(np.float32), f["space_b"].astype(np.float32))
        except (zipfile.BadZipFile, EOFError, KeyError, ValueError) as exc:
            raise UserInputError(f"waypoint file {path} is damaged ({exc.__class__.__name__}); rebuild it with "
                                 "lewm-waypoints or plan with --no-waypoints") from None
        if nodes.ndim != 2 or len(episode) != len(nodes) or not np.isfinite(nodes).all():
            raise UserInputError(f"waypoint file {path} is damaged (nodes {nodes.shape}, {len(episode)} episode ids); "
                                 f"rebuild it with lewm-waypoints or plan with --no-waypoints")
        settings.update(overrides)
        return cls(torch.from_numpy(nodes), episode, **settings)

    def save(self, path) -> None:
        """Writes nodes (float16), episode ids, the two radii and any distance space to ``path`` (``.npz``),
        atomically."""
        from common.io_utils import atomic_write

        from world_model.model.model_identity import MODEL_KEY

        space = {} if self.space is None else {"space_w": self.space[0].numpy(), "space_b": self.space[1].numpy()}
        if self.model_sha256:
            space[MODEL_KEY] = np.asarray(self.model_sha256)
        atomic_write(path, lambda tmp: np.savez_compressed(
            tmp, nodes=self.nodes.numpy().astype(np.float16), episode=self.episode, link=self.link,
            reach=self.reach, directed=self.directed, lead=self.lead, track=self.track, link_cost=self.link_cost,
            **space))

    def _key(self, z: torch.Tensor) -> torch.Tensor:
        """(N, D) embeddings -> where their distances are measured: themselves, or (N, K) in the space."""
        z = z.float().cpu()
        return z if self.space is None else z @ self.space[0] + self.space[1]

    # ----------------------------------------------------------------- search
    def distance_to_goal(self, goal: torch.Tensor) -> np.ndarray:
        """(D,) goal embedding -> (M,) graph distance of every node to the goal (inf where none connects).

        Directed graphs: the goal enters at every node within ``link`` of the nearest node's distance to it,
        entering at node i costing ``d_i / link`` blocks. Undirected: at the nodes within ``link`` of it (the
        nearest if none is), all at the nearest's cost. Cached per goal.
        """
        return self._search(goal)[0]

    def _search(self, goal: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """(D,) goal -> ((M,) graph distances to it, (M,) each node's next node on its way there, -9999 at the
        goal's entry nodes and where none connects). Cached per goal."""
        from scipy.sparse import block_diag, coo_matrix
        from scipy.sparse.csgraph import dijkstra

        key = self._fingerprint(goal)
        if key not in self._to_goal:
            d = normalised_sq_distance(self._key(goal[None]), self.keys)[0].numpy()
            if self.directed:
                # several entries, not only the nearest: the nearest may be a recording's first frame, which
                # nothing leads to; each costs its own distance
                entry = np.flatnonzero(d < d.min() + self.link)
                cost = d[entry] / self.link
            else:
                # every node is reached from its neighbours, so the nodes within link (or the nearest) suffice;
                # measured: the directed rule here cost reacher 4/50 (lewm-eval --planner proposal)
                entry = np.flatnonzero(d < self.link)
                entry = entry if len(entry) else np.array([int(d.argmin())])
                cost = np.full(len(entry), d[entry].min() / self.link)
            m = len(d)
            # searched backwards from the goal, added as node m: a node's predecessor is its next step forwards
            enter = coo_matrix((np.maximum(cost, 1e-6), (np.full(len(entry), m), entry)), shape=(m + 1, m + 1))
            graph = (block_diag((self._backward, coo_matrix((1, 1)))) + enter).tocsr()
            hops, nxt = dijkstra(graph, directed=self.directed, indices=m, return_predecessors=True)
            self._to_goal[key] = hops[:m], np.where(nxt[:m] == m, -9999, nxt[:m])
        return self._to_goal[key]

    @staticmethod
    def _fingerprint(goal: torch.Tensor) -> str:
        return hashlib.sha1(goal.float().cpu().numpy().tobytes()).hexdigest()

    def reset(self) -> None:
        """Forgets the paths tracked so far (``track``): the agent calls it when its episodes start again."""
        self._last.clear()

    def _match(self, near: np.ndarray, nxt: np.ndarray, last: int | None) -> int:
        """The node the current frame is at: the nearest one, or with ``track`` the nearest among the last match
        and the ``lead + 2`` nodes after it on its path, while that is within ``reach`` of the nearest."""
        best = int(near.argmin())
        if last is None:
            return best
        window = [last]
        while len(window) < self.lead + 3 and nxt[window[-1]] >= 0:
            window.append(int(nxt[window[-1]]))
        on_path = window[int(np.argmin(near[window]))]
        return on_path if near[on_path] <= near[best] + self.reach else best

    def _along_path(self, near: np.ndarray, goal: torch.Tensor) -> int | None:
        """(M,) distances of the current embedding to the nodes, (D,) goal -> the node ``lead`` hops along the
        shortest path from the node it is matched to (the nearest of those with a path to the goal; a recording's
        last frame has none); None at the path's end or where no path leads to the goal."""
        hops, nxt = self._search(goal)
        key = self._fingerprint(goal) if self.track else None  # _search's cache key; only tracking needs it
        near = np.where(np.isfinite(hops), near, np.inf)  # matched among the nodes with a way to the goal
        if not np.isfinite(near).any():
            return None
        node = self._match(near, nxt, self._last.get(key))
        if self.track:
            self._last[key] = node
        for _ in range(self.lead):
            if nxt[node] < 0:
                return None
            node = int(nxt[node])
        return node

    def subgoals(self, current: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        """Where to aim now: (N, D) current embeddings, (N or 1, D) goals -> (N, D) planning targets.

        For each env: the goal when it is within ``reach``; else, with ``lead`` > 0, the node ``lead`` hops along
        the shortest path from the node nearest the current embedding; else, among the nodes within ``reach`` of
        the current embedding, the one closest to the goal along the graph; the goal itself when no node is
        within reach, none of those connects to it, or the path ends sooner.
        """
        device, dtype = goal.device, goal.dtype
        current = current.float().cpu()  # the graph lives on the CPU; N x M distances are cheap
        goal = goal.float().cpu().expand(current.shape[0], -1)
        here, there = self._key(current), self._key(goal)
        near = normalised_sq_distance(here, self.keys).numpy()  # (N, M)
        to_goal_direct = ((here - there).square().sum(-1) / (2 * here.shape[-1])).numpy()
        targets = goal.clone()
        for i in range(current.shape[0]):
            if to_goal_direct[i] < self.reach:
                continue
            if self.lead:
                node = self._along_path(near[i], goal[i])
                if node is not None:
                    targets[i] = self.nodes[node]
                continue
            candidates = np.flatnonzero(near[i] < self.reach)
            if len(candidates) == 0:
                continue
            hops = self.distance_to_goal(goal[i])[candidates]
            if np.isfinite(hops).any():
                targets[i] = self.nodes[candidates[int(np.argmin(hops))]]
        return targets.to(device=device, dtype=dtype)


def build_waypoints(model, dataset_path, stride: int | None = None, max_nodes: int = 12000, link: float = 0.1,
                    reach: float = 0.5, batch: int = 256, progress: bool = True,
                    space: str = "latent", directed: bool = False, lead: int = 0,
                    track: bool = False, link_cost: float = 1.0) -> WaypointGraph:
    """Encodes every ``stride``-th frame (default: the model's frameskip) of an HDF5 dataset as waypoint nodes.

    Episodes are taken whole, in file order, until ``max_nodes`` nodes; frames must match the model's image size.
    ``space``: "latent" (distances between embeddings) or "state" (between state estimates read off them,
    ``agent.waypoint_space.state_space``; needs the data's ``qpos``). ``directed``, ``lead``, ``track`` and
    ``link_cost``: see ``WaypointGraph``.
    """
    if space not in ("latent", "state"):
        raise ValueError(f"space must be 'latent' or 'state', got {space!r}")
    import h5py

    from world_model.model.frame_encoding import encode_frames

    stride = stride or model.cfg.frameskip
    with h5py.File(dataset_path, "r") as f:
        ep_len, ep_offset, pixels = f["ep_len"][:], f["ep_offset"][:], f["pixels"]
        if pixels.shape[1] != model.cfg.image_size:
            raise ValueError(f"{dataset_path} has {pixels.shape[1]} px frames; the model takes "
                             f"{model.cfg.image_size} px")
        rows, episode, taken = [], [], 0
        for e, (off, n) in enumerate(zip(ep_offset, ep_len)):
            idx = off + np.arange(0, n, stride)
            if rows and taken + len(idx) > max_nodes:
                break
            taken += len(idx)
            rows.append(idx)
            episode.append(np.full(len(idx), e))
        rows, episode = np.concatenate(rows), np.concatenate(episode)
        nodes = encode_frames(model, pixels, rows, batch=batch, progress=progress, desc="waypoints")
        qpos = f["qpos"][rows] if space == "state" else None
    settings = dict(link=link, reach=reach, directed=directed, lead=lead, track=track, link_cost=link_cost,
                    model_sha256=getattr(model, "checkpoint_sha256", None))
    if qpos is None:
        return WaypointGraph(nodes, episode, **settings)
    from agent.waypoint_space import state_space

    return WaypointGraph(nodes, episode, space=state_space(model, nodes, qpos, episode)[:2], **settings)
