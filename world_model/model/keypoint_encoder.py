"""A spatial-softmax keypoint encoder: where things are, to a fraction of a pixel, in a few numbers.

The strided CNN ends on a 4x4 map at 64 px, so an object's position reaches the embedding only through coarse
cells; a 4-px-thick Push-T block 20 px from its goal is one cell away (``experiments/pusht/pusht.md``). Here the
trunk stops at stride 4 (16x16 at 64 px); each of K output channels is turned into a probability map by a softmax
over the pixels, and its expected x and y become two features (the "deep spatial autoencoder" keypoints of
visuomotor learning). Orientation-selective channels give points on an object's parts, so its angle is the
relative position of two keypoints. An average-pooled copy of the trunk's features is kept beside the points.

With ``moments`` each map's spread is kept too (variances in x and y and their covariance): a channel that covers
a whole elongated part then says which way it lies, which its mean position alone cannot.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from world_model.model.encoder import ImageNetNormalize

if TYPE_CHECKING:
    from world_model.model.config import LeWMConfig


def _softmax_maps(logits: torch.Tensor, temperature: torch.Tensor):
    """logits (N, K, H, W) -> each channel's softmax over pixels (N, K, H, W), and the x (W,) and y (H,) coordinates
    of the pixel centres in [-1, 1]."""
    n, k, h, w = logits.shape
    prob = F.softmax(logits.flatten(2).float() / temperature, dim=-1).view(n, k, h, w)
    return prob, torch.linspace(-1.0, 1.0, w, device=logits.device), torch.linspace(-1.0, 1.0, h, device=logits.device)


def spatial_expectation(logits: torch.Tensor, temperature: torch.Tensor) -> torch.Tensor:
    """logits (N, K, H, W) -> expected (x, y) of each channel's softmax over pixels, (N, K, 2) in [-1, 1]."""
    prob, xs, ys = _softmax_maps(logits, temperature)
    return torch.stack([(prob.sum(2) * xs).sum(-1), (prob.sum(3) * ys).sum(-1)], dim=-1)


def spatial_moments(logits: torch.Tensor, temperature: torch.Tensor) -> torch.Tensor:
    """logits (N, K, H, W) -> each channel's softmax mean and spread, (N, K, 5): x, y, var x, var y, cov xy,
    in [-1, 1] units (a flat map has variances 1/3 and covariance 0)."""
    prob, xs, ys = _softmax_maps(logits, temperature)
    px, py = prob.sum(2), prob.sum(3)  # marginals over x (N, K, W) and y (N, K, H)
    x, y = (px * xs).sum(-1), (py * ys).sum(-1)
    var_x = (px * xs.square()).sum(-1) - x.square()
    var_y = (py * ys.square()).sum(-1) - y.square()
    cov = (prob * ys[:, None] * xs[None, :]).sum((2, 3)) - x * y
    return torch.stack([x, y, var_x, var_y, cov], dim=-1)


class KeypointEncoder(nn.Module):
    """Images (N, 3, S, S) in [0, 1] -> features (N, width): K keypoints (x, y) plus pooled trunk features.

    Args:
        image_size: input side in pixels, divisible by 4.
        trunk: channels of the trunk's layers; the first two are Conv(k=4, s=2) (to S/4), the rest
            Conv(k=3, s=1); each followed by GroupNorm and GELU.
        keypoints: K, the 1x1-conv output channels turned into points.
        width: output feature size.
        temperature: the softmax's starting temperature (learned from there). At 1.0 a fresh map is nearly flat
            over the 256 cells, so every point starts near the centre; 0.1 starts them on their channel's peak.
        moments: also feed each map's variances and covariance (5 numbers per keypoint instead of 2).
    """

    def __init__(self, image_size: int, trunk: list, keypoints: int, width: int, temperature: float = 1.0,
                 moments: bool = False):
        super().__init__()
        if len(trunk) < 2 or image_size % 4:
            raise ValueError("the keypoint trunk needs at least two layers and an image side divisible by 4")
        self.normalize = ImageNetNormalize()
        layers, c_in = [], 3
        for i, c in enumerate(trunk):
            conv = (nn.Conv2d(c_in, c, kernel_size=4, stride=2, padding=1) if i < 2
                    else nn.Conv2d(c_in, c, kernel_size=3, stride=1, padding=1))
            layers += [conv, nn.GroupNorm(min(8, c), c), nn.GELU()]
            c_in = c
        self.trunk = nn.Sequential(*layers)
        self.points = nn.Conv2d(c_in, keypoints, kernel_size=1)
        self.log_temperature = nn.Parameter(torch.tensor(float(temperature)).log())
        self.moments = moments
        self.fc = nn.Linear((5 if moments else 2) * keypoints + c_in, width)
        self.out_dim = width

    @classmethod
    def from_config(cls, cfg: LeWMConfig) -> "KeypointEncoder":
        return cls(cfg.image_size, cfg.keypoint_trunk, cfg.keypoints, cfg.enc_width, cfg.keypoint_temperature,
                   cfg.keypoint_moments)

    @staticmethod
    def config_problem(cfg: LeWMConfig) -> str | None:
        """What in ``cfg`` this encoder cannot work with (one sentence), or None."""
        if cfg.image_size % 4 or len(cfg.keypoint_trunk) < 2:
            return "the keypoints encoder needs image_size divisible by 4 and keypoint_trunk of 2+ layers"
        return None

    def forward(self, x: torch.Tensor, with_points: bool = False):
        """x: (N, 3, H, W) float in [0, 1] -> features (N, width); with ``with_points`` also the points (N, K, 2)
        in [-1, 1] (x, y)."""
        feats = self.trunk(self.normalize(x))
        summarise = spatial_moments if self.moments else spatial_expectation
        stats = summarise(self.points(feats), self.log_temperature.exp())  # (N, K, 5) or (N, K, 2)
        points = stats[..., :2]
        pooled = feats.mean(dim=(2, 3))
        out = self.fc(torch.cat([stats.flatten(1).to(pooled.dtype), pooled], dim=1))
        return (out, points) if with_points else out
