"""Random-shift augmentation for training (DrQ; HIQL's random crop on OGBench's pixels).

A 64-px frame seen a pixel or two off teaches the encoder that position on the image grid is not the object's
identity; what it must keep is where things are relative to each other. The same shift applies to every frame of
a training clip, so the motion between frames, which the predictor learns, is untouched.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def random_shift(clips: torch.Tensor, pad: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Shifts each clip by one random offset in ``[-pad, pad]`` pixels per axis, edges repeated.

    Args:
        clips: (B, T, C, S, S) float images.
        pad: largest shift in pixels (0 returns ``clips`` unchanged).
        generator: RNG of the offsets (default: torch's global one).

    Returns:
        (B, T, C, S, S), the same dtype and device.
    """
    if pad <= 0:
        return clips
    b, t, c, s, _ = clips.shape
    padded = F.pad(clips.reshape(b, t * c, s, s), (pad, pad, pad, pad), mode="replicate")
    offsets = torch.randint(0, 2 * pad + 1, (b, 2), generator=generator, device="cpu").tolist()
    out = torch.stack([padded[i, :, y:y + s, x:x + s] for i, (y, x) in enumerate(offsets)])
    return out.reshape(b, t, c, s, s)
