"""stable-worldmodel 0.1.1 as the baseline: its solvers and its LeWM rollout, loaded with *our* weights.

The peer is installed with ``pip install --no-deps stable-worldmodel==0.1.1`` (``make bench-deps``). Its package
``__init__`` imports modules that need torchvision's compiled ops, so the modules used here are imported under
stub parent packages and their ``__init__`` never runs.

``peer_lewm(model)`` rebuilds a trained ``world_model.LeWM`` as swm's ``wm.lewm.LeWM`` (its ``Predictor``,
``Embedder`` and BatchNorm ``MLP`` projector, weight for weight), so a benchmark can time the reference rollout
and ours on the same predictor. ``check_same_cost`` proves the port: both rollouts give the same costs.
"""
from __future__ import annotations

import functools
import importlib
import importlib.util
import sys
import types
from pathlib import Path

import torch
from torch import nn


@functools.cache
def _stub_packages() -> Path:
    spec = importlib.util.find_spec("stable_worldmodel")
    if spec is None:
        raise SystemExit("stable-worldmodel is not installed: pip install --no-deps stable-worldmodel==0.1.1")
    root = Path(spec.submodule_search_locations[0])
    for name, path in (("stable_worldmodel", root), ("stable_worldmodel.solver", root / "solver"),
                       ("stable_worldmodel.wm", root / "wm"), ("stable_worldmodel.wm.lewm", root / "wm" / "lewm")):
        if name not in sys.modules:
            package = types.ModuleType(name)
            package.__path__ = [str(path)]  # submodules load from the real files; __init__ never runs
            sys.modules[name] = package
    if importlib.util.find_spec("loguru") is None:  # only used for a warning on discrete action spaces
        sys.modules["loguru"] = types.SimpleNamespace(logger=types.SimpleNamespace(warning=print, info=print))
    return root


@functools.cache
def load_peer_solvers() -> dict:
    """stable-worldmodel's ``CEMSolver`` and ``MPPISolver`` classes by our planner names."""
    _stub_packages()
    cem = importlib.import_module("stable_worldmodel.solver.cem")
    mppi = importlib.import_module("stable_worldmodel.solver.mppi")
    return {"CEM": cem.CEMSolver, "MPPI": mppi.MPPISolver}


def peer_lewm(model) -> nn.Module:
    """swm's ``LeWM`` (predictor, action encoder, prediction projector; no pixel encoder) with ``model``'s weights.

    Args:
        model: a ``world_model.LeWM``.

    Returns:
        the peer module in eval mode, on ``model``'s device; plan with it through ``PeerLeWMCost``.
    """
    _stub_packages()
    module = importlib.import_module("stable_worldmodel.wm.lewm.module")
    lewm = importlib.import_module("stable_worldmodel.wm.lewm.lewm")
    cfg = model.cfg
    d = cfg.embed_dim
    predictor = module.Predictor(num_frames=cfg.history_size, depth=cfg.pred_depth, heads=cfg.pred_heads,
                                 mlp_dim=cfg.pred_mlp_dim, input_dim=d, hidden_dim=d, dim_head=cfg.pred_dim_head,
                                 dropout=cfg.pred_dropout)
    action_encoder = module.Embedder(cfg.action_block_dim, cfg.action_smoothed_dim, d, cfg.action_mlp_scale)
    pred_proj = module.MLP(d, cfg.proj_hidden, d, norm_fn=nn.BatchNorm1d)
    peer = lewm.LeWM(encoder=None, predictor=predictor, action_encoder=action_encoder, pred_proj=pred_proj)

    ours = model.predictor.state_dict()
    mapped = {"pos_embedding": ours["pos_embedding"],
              "transformer.norm.weight": ours["norm.weight"], "transformer.norm.bias": ours["norm.bias"]}
    for key, value in ours.items():
        if key.startswith("blocks."):
            mapped["transformer.layers." + key[len("blocks."):]] = value
    predictor.load_state_dict(mapped)
    action_encoder.load_state_dict(model.action_encoder.state_dict())
    pred_proj.load_state_dict(model.pred_proj.state_dict())
    device = next(model.parameters()).device
    return peer.to(device).eval()


class PeerLeWMCost:
    """swm's ``Costable`` around its own ``LeWM.get_cost``, with start and goal embeddings given (not re-encoded).

    The solver hands ``info`` expanded to (B, S, ...); ``emb`` (B, S, Th, D) and ``goal_emb`` (B, S, 1, D) are in
    it, so swm's ``get_cost`` skips its encoder and runs exactly its rollout and terminal-MSE criterion.
    """

    def __init__(self, peer: nn.Module):
        self.peer = peer

    @torch.no_grad()
    def get_cost(self, info: dict, candidates: torch.Tensor) -> torch.Tensor:
        info = dict(info)  # swm's rollout writes into it
        b, s = candidates.shape[:2]
        info["emb"] = info.pop("z_hist")[:, :1].expand(b, s, -1, -1)  # the solver expanded it; keep one copy
        info["goal_emb"] = info.pop("z_goal")[:, :, None]
        info["pixels"] = info["emb"][..., None, None, None]  # only its shape (B, S, Th, ...) is read
        info["goal"] = info["goal_emb"]
        return self.peer.get_cost(info, candidates)


def check_same_cost(model, peer, z_hist: torch.Tensor, z_goal: torch.Tensor, plan: torch.Tensor,
                    atol: float = 1e-4) -> float:
    """Max |swm cost - our cost| for ``plan`` (B, N, H, A) from ``z_hist`` (B, 1, D); raises if over ``atol``.

    Ours is ``model.rollout`` with no action history (Th = 1), i.e. plan block 0 acts on the current frame, which
    is what swm's rollout does when its history holds one frame.
    """
    with torch.no_grad():
        ours = (model.rollout(z_hist, None, plan)[:, :, -1] - z_goal[:, None]).square().sum(-1)
        b, n = plan.shape[:2]
        info = {"z_hist": z_hist[:, None].expand(b, n, -1, -1), "z_goal": z_goal[:, None].expand(b, n, -1)}
        theirs = PeerLeWMCost(peer).get_cost(info, plan)
    err = float((ours - theirs).abs().max())
    scale = float(ours.abs().max())
    if err > atol * max(1.0, scale):
        raise AssertionError(f"swm port disagrees with our rollout: max |diff| {err:.3g} (cost scale {scale:.3g})")
    return err
