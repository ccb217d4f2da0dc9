"""One encoder registry: a new encoder is its own class plus one line in ``world_model.model.encoders.ENCODERS``;
the config's validation and the model read it."""

import pytest
import torch
from conftest import tiny_config
from torch import nn

from world_model import LeWM
from world_model.model.config import ConfigError
from world_model.model.encoders import ENCODERS, build_encoder, encoder_names


class MeanColour(nn.Module):
    """A toy encoder: each image's mean colour, mapped to ``enc_width`` features."""

    def __init__(self, width: int):
        super().__init__()
        self.fc = nn.Linear(3, width)
        self.out_dim = width

    def forward(self, x):
        return self.fc(x.mean(dim=(2, 3)))

    @classmethod
    def from_config(cls, cfg):
        return cls(cfg.enc_width)

    @staticmethod
    def config_problem(cfg):
        return "the mean-colour encoder needs enc_width >= 4" if cfg.enc_width < 4 else None


def test_every_registered_encoder_builds_from_its_config():
    assert encoder_names() == list(ENCODERS) and {"cnn", "vit", "keypoints"} <= set(ENCODERS)
    for name in ENCODERS:
        cfg = tiny_config(encoder=name, image_size=32, patch_size=8, enc_width=32, enc_depth=1, enc_heads=2,
                          keypoint_trunk=[8, 8], keypoints=4).validate()
        encoder = build_encoder(cfg)
        assert encoder(torch.rand(2, 3, 32, 32)).shape == (2, encoder.out_dim)


def test_one_registry_line_adds_an_encoder(monkeypatch):
    with pytest.raises(ConfigError, match="encoder must be one of 'cnn', 'vit', 'keypoints', got 'mean_colour'"):
        tiny_config(encoder="mean_colour").validate()
    monkeypatch.setitem(ENCODERS, "mean_colour", MeanColour)  # the one line a new encoder adds
    model = LeWM(tiny_config(encoder="mean_colour", enc_width=16).validate())
    assert isinstance(model.encoder, MeanColour)
    with pytest.raises(ConfigError, match="the mean-colour encoder needs enc_width >= 4"):
        tiny_config(encoder="mean_colour", enc_width=2).validate()


@pytest.mark.parametrize("changes, message", [
    (dict(encoder="vit", image_size=32, patch_size=5), "image_size 32 is not a multiple of patch_size 5"),
    (dict(encoder="vit", image_size=32, patch_size=8, enc_width=30, enc_heads=4), "not divisible by enc_heads 4"),
    (dict(encoder="cnn", image_size=36, cnn_channels=[8, 16, 32]), r"not divisible by 2\*\*3"),
    (dict(encoder="keypoints", image_size=30), "image_size divisible by 4"),
])
def test_each_encoder_checks_its_own_settings(changes, message):
    with pytest.raises(ConfigError, match=message):
        tiny_config(**changes).validate()
