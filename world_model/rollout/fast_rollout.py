"""Inference-only LeWM rollout: the same function as the plain ``LeWM.rollout``, with less work per step.

Planning spends nearly all its time here (300 candidates x 30 iterations x 5 steps per plan), so this path
does only what the result needs:

- **KV cache while the window grows.** Until the rollout holds ``history_size`` frames, a new step adds one
  token and every earlier token keeps its position, so (causal attention) its keys and values are unchanged:
  only the new token goes through the blocks. Once the window slides, positions shift and all of it is
  recomputed, as the model defines.
- **Last token only** in the last block and the prediction projector.
- **Action conditioning once per rollout:** the AdaLN shift / (1 + scale) / gate of every block for every step,
  stored contiguous per chunk.
- **Folded affines:** the attention and MLP LayerNorm affines go into the following ``to_qkv`` / first MLP
  Linear, the eval-mode BatchNorm of the prediction projector into its first Linear.
- **Short-sequence attention** as broadcast products over at most ``history_size`` keys: for T <= 3 this is ~6x
  faster on CPU than ``scaled_dot_product_attention``, whose kernels are tuned for long sequences.
- **Fused residual gates** (``addcmul``).
- **Native bf16** (``dtype=torch.bfloat16``): the folded weights are cast once, and the whole rollout runs in bf16.
  Under autocast every ``F.linear`` would cast its weight again at every call (autocast caches only casts of
  leaf parameters), which cost more than bf16 saved at planning sizes.
- **Pre-packed bf16 weights** for oneDNN on the CPU, with the GELU after each first MLP product fused into it
  (``world_model.rollout.packed_linear``; off under ``torch.compile``).

Results equal the plain path to float32 rounding (tests/test_fast_rollout.py). ``LeWM.rollout`` uses this path
whenever it runs without autograd in eval mode; the plain one stays as the reference and for training.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from common.cpu_threads import map_spans, row_spans
from world_model.rollout.packed_linear import Linear, can_pack

# Rows a packed weight is laid out for (any number works): a worker's share of a 300-candidate plan.
PACK_ROWS_HINT = 150


@dataclass
class _Block:
    """One predictor block's layers, affines folded. Shapes: D model width, I = heads * dim_head, M mlp width."""

    qkv: Linear   # (3I, D)
    out: Linear   # (D, I)
    fc1: Linear   # (M, D), GELU after it
    fc2: Linear   # (D, M)
    mod: Linear   # (6D, D)  AdaLN modulation Linear (applied to SiLU(c))

    def to(self, dtype: torch.dtype) -> "_Block":
        return _Block(**{name: layer.to(dtype) for name, layer in vars(self).items()})


def _fold_layer_norm_into_linear(ln: torch.nn.LayerNorm, linear: torch.nn.Linear):
    """Linear(LN_affine(u)) == Linear'(LN_plain(u)): returns Linear' = (W diag(gamma), W beta + b)."""
    w = linear.weight * ln.weight[None, :]
    b = linear.weight @ ln.bias
    if linear.bias is not None:
        b = b + linear.bias
    return Linear(w, b)


def _copy_linear(linear: torch.nn.Linear) -> Linear:
    return Linear(linear.weight.detach().clone(), linear.bias.detach().clone())


def _fold_batch_norm(linear: torch.nn.Linear, bn: torch.nn.BatchNorm1d):
    """BN_eval(Linear(x)) == Linear'(x): returns the folded Linear'."""
    inv = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    w = linear.weight * inv[:, None]
    b = (linear.bias - bn.running_mean) * inv + bn.bias
    return Linear(w, b)


class FastRollout:
    """Folded, read-only copy of a LeWM's predictor weights with the planning rollout.

    Built from a model in eval mode; rebuild it when the weights change (``LeWM`` does so by tracking parameter
    versions).

    Args:
        model: a ``world_model.LeWM``.
        dtype: precision of the stored weights and of the whole rollout (float32, or bfloat16 where it is faster:
            see ``world_model.rollout.precision``); inputs are cast to it, outputs back to the history's dtype.
        pack: pre-pack the weights for oneDNN where that is possible (``world_model.rollout.packed_linear``; bf16 on a
            CPU); False: plain ``F.linear`` everywhere (the reference the packed path is tested against).
    """

    def __init__(self, model, dtype: torch.dtype = torch.float32, pack: bool = True):
        cfg = model.cfg
        self.history_size = cfg.history_size
        self.heads, self.dim_head = cfg.pred_heads, cfg.pred_dim_head
        self.dim = cfg.embed_dim
        pred = model.predictor
        with torch.no_grad():
            self.pos = pred.pos_embedding[0].detach().clone()  # (history_size, D)
            self.blocks = []
            for blk in pred.blocks:
                ff_ln, fc1, fc2 = blk.mlp.net[0], blk.mlp.net[1], blk.mlp.net[4]
                self.blocks.append(_Block(qkv=_fold_layer_norm_into_linear(blk.attn.norm, blk.attn.to_qkv),
                                          out=_copy_linear(blk.attn.to_out[0]),
                                          fc1=_fold_layer_norm_into_linear(ff_ln, fc1), fc2=_copy_linear(fc2),
                                          mod=_copy_linear(blk.adaLN_modulation[-1])))
            self.final_norm = (pred.norm.weight.detach().clone(), pred.norm.bias.detach().clone(), pred.norm.eps)
            proj1, bn, proj2 = model.pred_proj.net[0], model.pred_proj.net[1], model.pred_proj.net[3]
            self.proj1, self.proj2 = _fold_batch_norm(proj1, bn), _copy_linear(proj2)
        self.ln_eps_block = 1e-6  # AdaLN norm1/norm2
        self.ln_eps_inner = pred.blocks[0].attn.norm.eps
        self.dtype = dtype
        if dtype != self.pos.dtype:
            self.pos = self.pos.to(dtype)
            self.blocks = [blk.to(dtype) for blk in self.blocks]
            w, b, eps = self.final_norm
            self.final_norm = (w.to(dtype), b.to(dtype), eps)
            self.proj1, self.proj2 = self.proj1.to(dtype), self.proj2.to(dtype)
        self.packed = pack and can_pack(self.pos.device, dtype)
        if self.packed:
            for layer in self._layers():
                layer.pack(PACK_ROWS_HINT)

    def _layers(self) -> list[Linear]:
        return [layer for blk in self.blocks for layer in vars(blk).values()] + [self.proj1, self.proj2]

    # ------------------------------------------------------------------ pieces
    def _modulations(self, c: torch.Tensor) -> list[torch.Tensor]:
        """c: (BN, T, D) action embeddings -> per block a (6, BN, T, D) stack of shift_a, 1+scale_a, gate_a,
        shift_m, 1+scale_m, gate_m, each contiguous."""
        silu_c = F.silu(c)
        mods = []
        for blk in self.blocks:
            m = blk.mod(silu_c)  # (BN, T, 6D)
            m = m.unflatten(-1, (6, self.dim)).movedim(-2, 0).contiguous()
            m[1] += 1.0
            m[4] += 1.0
            mods.append(m)
        return mods

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool) -> torch.Tensor:
        """q (BN, Tq, h, dh), k/v (BN, Tk, h, dh) -> (BN, Tq, h*dh). Query i sits at key position Tk - Tq + i.

        One key: its value (a softmax over one score is 1), the first step of a rollout from one frame. Otherwise
        broadcast products: at T <= 3 faster on the CPU than ``scaled_dot_product_attention``, batched matmuls,
        a product per key, or (bf16) the same in fp32, each measured slower with two workers (realtime.md).
        """
        tq, tk = q.shape[1], k.shape[1]
        if tk == 1:
            return v.flatten(2)
        scores = (q[:, :, None] * k[:, None]).sum(-1) * (self.dim_head ** -0.5)  # (BN, Tq, Tk, h)
        if causal and tq > 1:
            pos_q = torch.arange(tk - tq, tk, device=q.device)[:, None]
            future = torch.arange(tk, device=q.device)[None, :] > pos_q  # (Tq, Tk)
            scores = scores.masked_fill(future[:, :, None], float("-inf"))
        p = scores.softmax(dim=2)
        return (p[..., None] * v[:, None]).sum(2).flatten(2)

    def _block(self, blk: _Block, mod: torch.Tensor, x: torch.Tensor, cache: list | None, rows: int,
               out_rows: int) -> torch.Tensor:
        """One AdaLN-zero block on the last ``rows`` tokens of the window.

        Args:
            mod: (6, BN, T, D) modulations of the window's T tokens.
            x: (BN, rows, D) block input of those tokens.
            cache: [k, v] of the earlier window tokens (each (BN, T - rows, h, dh)), updated in place to all T;
                None when nothing is cached and nothing needs caching.
            out_rows: how many of the last rows to return (1 in the last block).

        Returns:
            (BN, out_rows, D).
        """
        bn, d = x.shape[0], self.dim
        m = mod[:, :, -rows:]
        u = F.layer_norm(x, (d,), eps=self.ln_eps_block)
        u = torch.addcmul(m[0], u, m[1])
        u = F.layer_norm(u, (d,), eps=self.ln_eps_inner)
        qkv = blk.qkv(u).view(bn, rows, 3, self.heads, self.dim_head)
        q, k, v = qkv.unbind(2)
        if cache is not None:
            if cache[0] is not None:
                k, v = torch.cat([cache[0], k], 1), torch.cat([cache[1], v], 1)
            cache[0], cache[1] = k, v
        y = self._attend(q[:, -out_rows:], k, v, causal=True)
        m = m[:, :, -out_rows:]
        h = torch.addcmul(x[:, -out_rows:], m[2], blk.out(y))
        u = F.layer_norm(h, (d,), eps=self.ln_eps_block)
        u = torch.addcmul(m[3], u, m[4])
        u = F.layer_norm(u, (d,), eps=self.ln_eps_inner)
        f = blk.fc2(blk.fc1(u, gelu=True))
        return torch.addcmul(h, m[5], f)

    def _project(self, h: torch.Tensor) -> torch.Tensor:
        """(BN, D) last hidden state -> (BN, D) predicted embedding (final LayerNorm + prediction projector)."""
        w, b, eps = self.final_norm
        h = F.layer_norm(h, (self.dim,), w, b, eps)
        return self.proj2(self.proj1(h, gelu=True))

    # ------------------------------------------------------------------ rollout
    def rollout(self, z_hist: torch.Tensor, c_hist: torch.Tensor | None, c_plan: torch.Tensor,
                chunk: int | None = None, workers: int = 1, rows_fn=None,
                serial: bool = False) -> torch.Tensor:
        """Autoregressive rollout of N candidate plans per batch element.

        Args:
            z_hist: (B, Th, D) history embeddings (Th >= 1), shared by the N candidates of a batch element.
            c_hist: (B, Th - 1, D) action embeddings of the history, or None when Th == 1.
            c_plan: (B, N, H, D) action embeddings of the candidate plans.
            chunk: candidates (over all B x N) per pass; None: all at once.
            workers: CPU threads the candidates are split over, one torch thread each
                (``common.cpu_threads``); 1: the caller's thread.
            rows_fn: what rolls out one span of candidates, with ``_rollout_rows``'s arguments and result
                (default: ``_rollout_rows``; ``world_model.rollout.compiled_rollout`` passes its compiled twin).
            serial: run the spans cut for ``workers`` on the caller's thread (a compiler sees each span's shape
                there before worker threads call it).

        Returns:
            (B, N, H, D) predicted embeddings, in ``z_hist``'s dtype.
        """
        out_dtype = z_hist.dtype
        z_hist, c_plan = z_hist.to(self.dtype), c_plan.to(self.dtype)
        c_hist = None if c_hist is None else c_hist.to(self.dtype)
        b, th, d = z_hist.shape
        n, horizon = c_plan.shape[1], c_plan.shape[2]
        rows = b * n
        # History tokens conditioned on history actions are the same for every candidate, and (causal attention)
        # so are their keys and values: they go through the blocks once per batch element, not once per candidate.
        starts = {max(0, th + step - self.history_size) for step in range(horizon)}
        prefixes = {start: self._shared_prefix(z_hist, c_hist, start) for start in starts if start < th - 1}
        flat_plan = c_plan.reshape(rows, horizon, d)
        rows_fn = rows_fn or self._rollout_rows

        def span(lo: int, hi: int) -> torch.Tensor:
            owner = torch.arange(lo, hi, device=z_hist.device) // n
            return rows_fn(z_hist.index_select(0, owner), flat_plan[lo:hi], prefixes, owner)

        out = map_spans(span, row_spans(rows, chunk, workers), 1 if serial else workers)
        return (out[0] if len(out) == 1 else torch.cat(out)).reshape(b, n, horizon, d).to(out_dtype)

    def _shared_prefix(self, z_hist: torch.Tensor, c_hist: torch.Tensor, start: int) -> list[list[torch.Tensor]]:
        """Keys and values, per block, of the history tokens start .. Th-2 of a window beginning at ``start``
        (positions 0 ..): each (B, Th-1-start, h, dh)."""
        th = z_hist.shape[1]
        shared = th - 1 - start
        mods = self._modulations(c_hist[:, start:th - 1])
        x = z_hist[:, start:th - 1] + self.pos[:shared]
        kv = []
        for blk, mod in zip(self.blocks, mods):
            cache = [None, None]
            x = self._block(blk, mod, x, cache, shared, shared)
            kv.append(cache)
        return kv

    def _rollout_rows(self, z_hist: torch.Tensor, c_plan: torch.Tensor, prefixes: dict, owner: torch.Tensor):
        """The rollout of R candidates: z_hist (R, Th, D), c_plan (R, H, D), ``prefixes`` from
        ``_shared_prefix`` by window start, ``owner`` (R,) the batch element of each row -> (R, H, D)."""
        r, th, d = z_hist.shape
        horizon = c_plan.shape[1]
        hist = self.history_size
        mods = self._modulations(c_plan)  # token t of the buffer (t >= Th-1) has plan modulations t - (Th-1)
        buf = z_hist.new_empty(r, th + horizon, d)
        buf[:, :th] = z_hist
        caches, cache_start = None, -1
        depth = len(self.blocks)
        for step in range(horizon):
            end = th + step
            start = max(0, end - hist)
            if start == cache_start and caches is not None:
                rows = 1  # the window grew by one token and nothing moved: earlier keys/values still hold
            else:
                caches, cache_start = [[None, None] for _ in range(depth)], start
                shared = max(0, th - 1 - start)
                if shared:
                    caches = [[k.index_select(0, owner), v.index_select(0, owner)] for k, v in prefixes[start]]
                rows = end - start - shared
            # Positions: the window's token i sits at position i; the computed rows are the window's last ones.
            x = buf[:, end - rows: end] + self.pos[end - start - rows: end - start]
            first = end - rows - (th - 1)
            for i, blk in enumerate(self.blocks):
                last = i == depth - 1
                x = self._block(blk, mods[i][:, :, first:first + rows], x, caches[i], rows, 1 if last else rows)
            buf[:, end] = self._project(x[:, -1])
        return buf[:, th:]
