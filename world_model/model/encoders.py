"""Every image encoder by name, in one place: a new encoder is its own module plus one line in ``ENCODERS``.

``LeWMConfig.encoder`` names one of them; the config's validation (``LeWMConfig.validate``) and the model
(``LeWM``) both read this table.

A registered encoder is an ``nn.Module`` class with
- ``from_config(cfg) -> module``: the encoder a config describes; the module maps float images ``(N, 3, S, S)`` in
  [0, 1] to features ``(N, module.out_dim)``;
- ``config_problem(cfg) -> str | None``: what in the config it cannot work with (one sentence), or None.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

from world_model.model.encoder import CNNEncoder, ViTEncoder
from world_model.model.keypoint_encoder import KeypointEncoder

if TYPE_CHECKING:
    from world_model.model.config import LeWMConfig

ENCODERS: dict[str, type[nn.Module]] = {
    "cnn": CNNEncoder,  # strided CNN, the CPU default
    "vit": ViTEncoder,  # the paper's ViT-Tiny layout
    "keypoints": KeypointEncoder,  # spatial-softmax keypoints
}


def encoder_names() -> list[str]:
    """The registered encoder names, in registration order."""
    return list(ENCODERS)


def encoder_problem(cfg: LeWMConfig) -> str | None:
    """What is wrong with ``cfg``'s encoder settings (an unknown name, or what its encoder cannot work with), or
    None."""
    if cfg.encoder not in ENCODERS:
        return f"encoder must be one of {', '.join(repr(n) for n in ENCODERS)}, got {cfg.encoder!r}"
    return ENCODERS[cfg.encoder].config_problem(cfg)


def build_encoder(cfg: LeWMConfig) -> nn.Module:
    """The encoder named by ``cfg.encoder``; its output width is ``.out_dim``.

    Raises:
        ValueError: the name is not registered.
    """
    if cfg.encoder not in ENCODERS:
        raise ValueError(f"unknown encoder {cfg.encoder!r}; known: {', '.join(ENCODERS)}")
    return ENCODERS[cfg.encoder].from_config(cfg)
