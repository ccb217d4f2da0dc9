"""Image encoders: a ViT (the paper's ViT-Tiny layout) and a small strided CNN (the CPU default).

Both take float images ``(N, 3, H, W)`` in [0, 1], apply ImageNet mean/std normalisation and return one
feature vector per image ``(N, width)``: the final-LayerNorm [CLS] token for the ViT, a linear map of the
flattened last feature map for the CNN. Each is registered by name in ``world_model.model.encoders`` and built
from a config by its ``from_config``; its ``config_problem`` says what in a config it cannot work with.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from world_model.model.config import LeWMConfig

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ImageNetNormalize(nn.Module):
    """``(x - mean) / std`` per RGB channel with the ImageNet statistics; x: (N, 3, H, W) in [0, 1]."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class ViTAttention(nn.Module):
    """Multi-head self-attention (bidirectional) with q/k/v biases, as in Hugging Face ViT."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, L, dim) -> (N, L, dim)."""
        n, length, dim = x.shape
        q, k, v = self.qkv(x).view(n, length, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v)
        return self.out(y.transpose(1, 2).reshape(n, length, dim))


class ViTBlock(nn.Module):
    """Pre-LN transformer block: x + Attn(LN(x)), then x + MLP(LN(x)) with GELU."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-12)
        self.attn = ViTAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-12)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViTEncoder(nn.Module):
    """ViT with patch embedding, [CLS] token, learned positions, pre-LN blocks and a final LayerNorm.

    Args:
        image_size: input side in pixels (square images).
        patch_size: patch side in pixels.
        width: token width (192 for ViT-Tiny).
        depth: number of blocks.
        heads: attention heads.
        mlp_ratio: MLP hidden width / token width.
    """

    def __init__(self, image_size: int, patch_size: int, width: int, depth: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.normalize = ImageNetNormalize()
        self.patch_embed = nn.Conv2d(3, width, kernel_size=patch_size, stride=patch_size)
        num_patches = (image_size // patch_size) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, width))
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches + 1, width))
        self.blocks = nn.ModuleList(ViTBlock(width, heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(width, eps=1e-12)
        self.out_dim = width
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    @classmethod
    def from_config(cls, cfg: LeWMConfig) -> "ViTEncoder":
        return cls(cfg.image_size, cfg.patch_size, cfg.enc_width, cfg.enc_depth, cfg.enc_heads, cfg.enc_mlp_ratio)

    @staticmethod
    def config_problem(cfg: LeWMConfig) -> str | None:
        """What in ``cfg`` this encoder cannot work with (one sentence), or None."""
        if cfg.image_size % cfg.patch_size:
            return f"image_size {cfg.image_size} is not a multiple of patch_size {cfg.patch_size}"
        if cfg.enc_width % cfg.enc_heads:
            return f"enc_width {cfg.enc_width} is not divisible by enc_heads {cfg.enc_heads}"
        return None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, 3, H, W) float in [0, 1] -> [CLS] features (N, width)."""
        x = self.patch_embed(self.normalize(x)).flatten(2).transpose(1, 2)  # (N, P, width)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1).to(x.dtype), x], dim=1) + self.pos_embed
        for block in self.blocks:
            x = block(x)
        return self.norm(x[:, 0])


class CNNEncoder(nn.Module):
    """Strided CNN: each layer Conv(k=4, s=2, p=1) -> GroupNorm -> GELU halves the side; then Linear.

    At 64 px with channels (32, 64, 128, 256) the last map is 4x4x256 = 4096 features, mapped to ``width``.

    Args:
        image_size: input side in pixels, divisible by ``2 ** len(channels)``.
        channels: output channels of each strided layer.
        width: output feature size.
    """

    def __init__(self, image_size: int, channels: list, width: int):
        super().__init__()
        self.normalize = ImageNetNormalize()
        layers, c_in = [], 3
        for c in channels:
            layers += [nn.Conv2d(c_in, c, kernel_size=4, stride=2, padding=1),
                       nn.GroupNorm(min(8, c), c), nn.GELU()]
            c_in = c
        self.convs = nn.Sequential(*layers)
        side = image_size // 2 ** len(channels)
        self.fc = nn.Linear(c_in * side * side, width)
        self.out_dim = width

    @classmethod
    def from_config(cls, cfg: LeWMConfig) -> "CNNEncoder":
        return cls(cfg.image_size, cfg.cnn_channels, cfg.enc_width)

    @staticmethod
    def config_problem(cfg: LeWMConfig) -> str | None:
        """What in ``cfg`` this encoder cannot work with (one sentence), or None."""
        if cfg.image_size % (2 ** len(cfg.cnn_channels)):
            return f"image_size {cfg.image_size} is not divisible by 2**{len(cfg.cnn_channels)} (cnn_channels)"
        return None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, 3, H, W) float in [0, 1] -> features (N, width)."""
        return self.fc(self.convs(self.normalize(x)).flatten(1))

