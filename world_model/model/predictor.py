"""Causal transformer predictor with AdaLN-zero action conditioning (the reference ``ARPredictor``).

Each frame token is modulated by the embedding of its own action block, in every block, through
``SiLU -> Linear(D, 6D)`` producing shift/scale/gate for attention and MLP; that linear layer starts at
zero so every block is the identity at initialisation.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """AdaLN modulation ``x * (1 + scale) + shift``."""
    return x * (1 + scale) + shift


class CausalAttention(nn.Module):
    """Pre-normed multi-head attention (inner width ``heads * dim_head``) with causal masking."""

    def __init__(self, dim: int, heads: int, dim_head: int, dropout: float):
        super().__init__()
        self.heads, self.dim_head, self.dropout = heads, dim_head, dropout
        inner = heads * dim_head
        self.norm = nn.LayerNorm(dim)
        self.to_qkv = nn.Linear(dim, 3 * inner, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        """x: (B, T, D) -> (B, T, D); with ``last_only`` -> (B, 1, D), the last query attending to all keys."""
        b, t, _ = x.shape
        q, k, v = self.to_qkv(self.norm(x)).view(b, t, 3, self.heads, self.dim_head).permute(2, 0, 3, 1, 4)
        drop = self.dropout if self.training else 0.0
        if last_only:
            # The last position may see every key, so no mask is needed (is_causal would mis-align a 1-row query).
            y = F.scaled_dot_product_attention(q[:, :, -1:], k, v, dropout_p=drop)
        else:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=drop, is_causal=True)
        return self.to_out(y.transpose(1, 2).reshape(b, y.shape[2], -1))


class FeedForward(nn.Module):
    """LayerNorm -> Linear -> GELU -> Dropout -> Linear -> Dropout."""

    def __init__(self, dim: int, hidden: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class AdaLNZeroBlock(nn.Module):
    """Transformer block conditioned on per-token vectors through AdaLN-zero (DiT)."""

    def __init__(self, dim: int, heads: int, dim_head: int, mlp_dim: int, dropout: float):
        super().__init__()
        self.attn = CausalAttention(dim, heads, dim_head, dropout)
        self.mlp = FeedForward(dim, mlp_dim, dropout)
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))
        nn.init.zeros_(self.adaLN_modulation[-1].weight)
        nn.init.zeros_(self.adaLN_modulation[-1].bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor, last_only: bool = False,
                mod: torch.Tensor | None = None) -> torch.Tensor:
        """x, c: (B, T, D) -> (B, T, D), or (B, 1, D) for the last position only.

        ``mod`` is ``adaLN_modulation(c)`` (B, T, 6D) when the caller has it already (a rollout computes it once
        for all its steps); ``c`` is then ignored.
        """
        if mod is None:
            mod = self.adaLN_modulation(c)
        if last_only:
            shift_a, scale_a, _, _, _, _ = mod.chunk(6, dim=-1)  # keys/values need every position
            _, _, gate_a, shift_m, scale_m, gate_m = mod[:, -1:].chunk(6, dim=-1)
            h = x[:, -1:] + gate_a * self.attn(modulate(self.norm1(x), shift_a, scale_a), last_only=True)
            return h + gate_m * self.mlp(modulate(self.norm2(h), shift_m, scale_m))
        shift_a, scale_a, gate_a, shift_m, scale_m, gate_m = mod.chunk(6, dim=-1)
        x = x + gate_a * self.attn(modulate(self.norm1(x), shift_a, scale_a))
        return x + gate_m * self.mlp(modulate(self.norm2(x), shift_m, scale_m))


class Predictor(nn.Module):
    """Autoregressive latent predictor: output position t predicts the embedding of frame t+1.

    Args:
        dim: token width (= latent dim).
        max_frames: length of the learned positional embedding (the history size).
        depth, heads, dim_head, mlp_dim, dropout: transformer sizes.
    """

    def __init__(self, dim: int, max_frames: int, depth: int, heads: int, dim_head: int, mlp_dim: int,
                 dropout: float):
        super().__init__()
        self.max_frames = max_frames
        self.pos_embedding = nn.Parameter(torch.randn(1, max_frames, dim))
        self.blocks = nn.ModuleList(AdaLNZeroBlock(dim, heads, dim_head, mlp_dim, dropout) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)

    def modulations(self, c: torch.Tensor) -> list[torch.Tensor]:
        """Every block's AdaLN shift/scale/gate for action embeddings c (B, T, D): a list of (B, T, 6D).

        They depend on the actions only, so a rollout computes them once and slices them at every step.
        """
        return [block.adaLN_modulation(c) for block in self.blocks]

    def forward(self, z: torch.Tensor, c: torch.Tensor | None, last_only: bool = False,
                mods: list[torch.Tensor] | None = None) -> torch.Tensor:
        """Runs the causal transformer.

        Args:
            z: (B, T, D) frame embeddings, T <= max_frames.
            c: (B, T, D) action embeddings, one per frame (ignored when ``mods`` is given).
            last_only: return only the last position (what a rollout step needs).
            mods: precomputed ``modulations(c)``, each (B, T, 6D).

        Returns:
            (B, T, D) hidden states after the final LayerNorm, or (B, 1, D) with ``last_only``.
        """
        t = z.shape[1]
        if t > self.max_frames:
            raise ValueError(f"predictor got {t} frames but holds at most {self.max_frames} (history_size)")
        x = z + self.pos_embedding[:, :t]
        last = len(self.blocks) - 1
        for i, block in enumerate(self.blocks):
            x = block(x, c, last_only=last_only and i == last, mod=None if mods is None else mods[i])
        return self.norm(x)
