"""Embedding stored frames in batches: the dataset passes of the proposal policy and the waypoint graph."""
from __future__ import annotations

import numpy as np
import torch


def encode_frames(model, pixels, rows: np.ndarray | None = None, batch: int = 512, progress: bool = True,
                  desc: str = "encoding frames") -> torch.Tensor:
    """Embeds ``pixels[rows]`` (all rows when None) with ``model``'s encoder, ``batch`` frames at a time.

    Args:
        model: a ``world_model.LeWM``.
        pixels: (N, S, S, 3) uint8 frames, a numpy array or an h5py dataset (read one batch at a time).
        rows: increasing row indices to encode.

    Returns:
        (len(rows), D) float32 embeddings on the CPU.
    """
    from tqdm import tqdm

    rows = np.arange(len(pixels)) if rows is None else np.asarray(rows)
    device = next(model.parameters()).device
    chunks = []
    with torch.inference_mode():
        for lo in tqdm(range(0, len(rows), batch), desc=desc, unit="batch", disable=not progress):
            frames = torch.from_numpy(pixels[rows[lo:lo + batch]]).to(device)
            chunks.append(model.encode(frames).float().cpu())
    return torch.cat(chunks) if chunks else torch.empty(0, model.cfg.embed_dim)
