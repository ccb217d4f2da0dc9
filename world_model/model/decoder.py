"""An optional pixel decoder: a training-only term that makes the embedding keep what the prediction loss lets go.

The JEPA prediction loss never needs an object whose motion nothing else depends on. In Push-T the pusher is
kinematic, so its future follows from the actions alone and the block can be left out of the embedding at no
cost; SIGReg is then satisfied by the pusher and noise (``experiments/pusht/pusht.md``: block angle R^2 ~ 0).
With ``recon_lambda > 0`` the embeddings must also redraw their frame through this small transposed-CNN decoder,
which puts every visible object in them. The LeWM paper found a reconstruction term unhelpful on its Push-T
(86 % against 96 %), where its ViT already saw the block; here it is off by default and used where measured.
"""
from __future__ import annotations

import torch
from torch import nn

from world_model.model.keypoint_decoder import KeypointDecoder


class PixelDecoder(nn.Module):
    """(N, D) embeddings -> (N, 3, S, S) images in [0, 1] (sigmoid), S = G * 2^(len(channels)).

    A linear map to a (channels[-1], G, G) grid, G = S / 2^len(channels) (4 at 64 px with the cpu preset's four
    stages, 6 at 96 px), then one stride-2 transposed convolution per entry of ``channels`` (reversed), the last one
    to 3 channels.
    """

    def __init__(self, embed_dim: int, image_size: int, channels: list[int]):
        super().__init__()
        ups = len(channels)
        self.grid_size = image_size // 2 ** ups
        if self.grid_size < 2 or self.grid_size * 2 ** ups != image_size:
            raise ValueError(f"the decoder's {ups} stages double a grid of at least 2x2 cells to the image side: "
                             f"{image_size} px is not a multiple of {2 ** ups} of at least {2 ** (ups + 1)} px "
                             f"(e.g. {4 * 2 ** ups} or {6 * 2 ** ups} px)")
        widths = list(reversed(channels)) + [3]
        self.grid = nn.Linear(embed_dim, widths[0] * self.grid_size ** 2)
        layers: list[nn.Module] = []
        for i, (c_in, c_out) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1))
            if i < len(widths) - 2:
                layers.append(nn.GELU())
        self.up = nn.Sequential(*layers)
        self.first_width = widths[0]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.grid(z).view(-1, self.first_width, self.grid_size, self.grid_size)
        return torch.sigmoid(self.up(x))


FOREGROUND_THRESHOLD = 0.1  # max channel difference from the median frame (images in [0, 1]) that marks an object


def reconstruction_loss(recon: torch.Tensor, images: torch.Tensor, focus: float = 0.0) -> torch.Tensor:
    """Pixel MSE, weighted ``1 + focus`` on foreground pixels; a scalar.

    recon, images: (N, 3, S, S) in [0, 1]. The background is the per-pixel median over the N frames (objects
    move between frames, the table does not), so no task knowledge is needed; a pixel is foreground where any
    channel differs from it by more than ``FOREGROUND_THRESHOLD``. The weights are normalised to mean 1 per batch,
    so ``recon_lambda`` keeps its scale whatever share of the image the objects cover.
    """
    err = (recon.float() - images.float()).pow(2)
    if focus <= 0:
        return err.mean()
    with torch.no_grad():
        target = images.float()
        background = target.median(dim=0, keepdim=True).values
        foreground = ((target - background).abs().amax(dim=1, keepdim=True) > FOREGROUND_THRESHOLD).float()
        weight = 1.0 + focus * foreground
        weight = weight / weight.mean()
    return (weight * err).mean()


def decoder_terms(decoder: nn.Module, z: torch.Tensor, images: torch.Tensor, focus: float,
                  image_points: torch.Tensor | None = None) -> dict:
    """The decoder's training terms, each a scalar to be weighted by ``recon_lambda``.

    z: (N, D) embeddings of the N frames ``images`` (N, 3, S, S) in [0, 1]. Without ``image_points``: {"recon"},
    the frames redrawn from z. With them ((N, K, 2), the keypoint encoder's points, ``decoder: image_keypoints``):
    "recon", the frames drawn from those points, and "readout", the error of reading them linearly back off z.
    """
    if image_points is None:
        return {"recon": reconstruction_loss(decoder(z), images, focus)}
    return {"recon": reconstruction_loss(decoder.draw(image_points), images, focus),
            "readout": (decoder.points(z).float() - image_points.detach().float()).pow(2).mean()}


def build_decoder(cfg) -> nn.Module:
    """The decoder ``cfg.decoder`` names, for embeddings of ``cfg.embed_dim`` and frames of ``cfg.image_size``."""
    if cfg.decoder == "keypoints":
        return KeypointDecoder(cfg.embed_dim, cfg.image_size, cfg.recon_keypoints)
    if cfg.decoder == "image_keypoints":
        return KeypointDecoder(cfg.embed_dim, cfg.image_size, cfg.keypoints)
    return PixelDecoder(cfg.embed_dim, cfg.image_size, cfg.cnn_channels)
