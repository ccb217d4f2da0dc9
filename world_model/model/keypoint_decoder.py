"""A keypoint-bottleneck pixel decoder: the embedding must say where the parts of every moving object are.

The transposed-CNN decoder (``decoder.py``) redraws a frame from the whole embedding through a 4x4 grid; after
4,000 steps it draws the Push-T block as a blob with no orientation (``experiments/pusht/pusht.md``), so the
angle never had to enter the embedding. Here the embedding is mapped *linearly* to K points (x, y) in [-1, 1];
each point is drawn as a Gaussian bump on a coarse grid, a learned constant map supplies the static scene, and a
small CNN paints the frame from those maps. Convolutions draw an object from bumps at its parts easily (a bar
is two bumps and the line between them), while a blob is all a global vector buys cheaply; so the cheapest way to
lower the pixel error is to put points on the parts of each moving object, i.e. to hold its pose, angle
included, linearly in the embedding (the conditional-image-generation landmarks of Jakab et al. 2018 and
Transporter, with the points read off the embedding instead of the image). With ``decoder: image_keypoints`` the
same decoder draws the keypoint encoder's own points instead (``draw``), and ``points`` reads them back off the
embedding (``decoder.decoder_terms``).
"""
from __future__ import annotations

import torch
from torch import nn

GRID_STRIDE = 4  # the bump maps are drawn at image_size / 4 (16x16 at 64 px), then upsampled twice


def gaussian_maps(points: torch.Tensor, size: int, sigma: float) -> torch.Tensor:
    """points (N, K, 2) in [-1, 1] (x, y) -> (N, K, size, size) bumps exp(-d^2 / (2 sigma^2)); sigma in [-1, 1]
    units."""
    grid = torch.linspace(-1.0, 1.0, size, device=points.device, dtype=points.dtype)
    dx = (grid.view(1, 1, 1, size) - points[..., 0, None, None]) ** 2
    dy = (grid.view(1, 1, size, 1) - points[..., 1, None, None]) ** 2
    return torch.exp(-(dx + dy) / (2 * sigma ** 2))


class KeypointDecoder(nn.Module):
    """(N, D) embeddings -> (N, 3, S, S) images in [0, 1] (sigmoid), drawn from K points read linearly off z.

    Args:
        embed_dim: D.
        image_size: S, divisible by 4.
        keypoints: K.
        width: channels of the painting CNN.
        sigma: bump radius in [-1, 1] units (0.1 is 0.8 cells of the 16x16 grid at 64 px).
    """

    def __init__(self, embed_dim: int, image_size: int, keypoints: int = 32, width: int = 64, sigma: float = 0.1):
        super().__init__()
        if image_size % GRID_STRIDE:
            raise ValueError(f"the keypoint decoder needs an image side divisible by {GRID_STRIDE}, not {image_size}")
        self.grid_size = image_size // GRID_STRIDE
        self.sigma = sigma
        self.keypoints = keypoints
        self.to_points = nn.Linear(embed_dim, 2 * keypoints)
        self.scene = nn.Parameter(torch.zeros(1, 8, self.grid_size, self.grid_size))
        c_in = keypoints + 8
        self.paint = nn.Sequential(
            nn.Conv2d(c_in, width, 3, padding=1), nn.GELU(),
            nn.Conv2d(width, width, 3, padding=1), nn.GELU(),
            nn.ConvTranspose2d(width, width // 2, 4, stride=2, padding=1), nn.GELU(),
            nn.Conv2d(width // 2, width // 2, 3, padding=1), nn.GELU(),
            nn.ConvTranspose2d(width // 2, 3, 4, stride=2, padding=1),
        )

    def points(self, z: torch.Tensor) -> torch.Tensor:
        """z (N, D) -> the points the frame is drawn from, (N, K, 2) in [-1, 1]."""
        return torch.tanh(self.to_points(z)).view(-1, self.keypoints, 2)

    def draw(self, points: torch.Tensor) -> torch.Tensor:
        """points (N, K, 2) in [-1, 1] -> (N, 3, S, S) images in [0, 1]."""
        maps = gaussian_maps(points.float(), self.grid_size, self.sigma).to(self.scene.dtype)
        scene = self.scene.expand(maps.shape[0], -1, -1, -1)
        return torch.sigmoid(self.paint(torch.cat([maps, scene], dim=1)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z (N, D) -> (N, 3, S, S) images in [0, 1], drawn from the points read off z."""
        return self.draw(self.points(z))
