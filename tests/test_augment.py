"""Random-shift augmentation: one shift per clip, edges repeated, training only."""

import pytest
import torch
from conftest import tiny_config

from world_model import LeWM
from world_model.model.augment import random_shift
from world_model.model.config import ConfigError


def test_every_frame_of_a_clip_moves_by_the_same_offset_within_pad():
    torch.manual_seed(0)
    clips = torch.rand(6, 3, 3, 16, 16)
    shifted = random_shift(clips, pad=2, generator=torch.Generator().manual_seed(1))
    assert shifted.shape == clips.shape
    for b in range(6):
        found = None
        padded = torch.nn.functional.pad(clips[b], (2, 2, 2, 2), mode="replicate")
        for y in range(5):
            for x in range(5):
                if torch.equal(padded[..., y:y + 16, x:x + 16], shifted[b]):
                    found = (y, x)
        assert found is not None  # all T frames at one offset
    assert not torch.equal(shifted, clips)
    assert random_shift(clips, pad=0) is clips


def test_the_model_shifts_its_training_clips_only():
    cfg = tiny_config(random_shift=2)
    model = LeWM(cfg)
    batch = {"pixels": torch.randint(0, 255, (2, cfg.num_steps, 32, 32, 3), dtype=torch.uint8),
             "action": torch.zeros(2, cfg.num_steps, cfg.action_block_dim)}
    plain = LeWM(cfg.replace(random_shift=0))
    plain.load_state_dict(model.state_dict())
    with torch.no_grad():
        for m in (model, plain):
            m.eval()
        assert torch.equal(model.loss(batch)["emb"], plain.loss(batch)["emb"])  # evaluation: frames as they are
        for m in (model, plain):
            m.train()
        torch.manual_seed(3)
        shifted = model.loss(batch)["emb"]
        torch.manual_seed(3)
        assert not torch.equal(shifted, plain.loss(batch)["emb"])


@pytest.mark.parametrize("pad", [-1, 9])
def test_a_shift_outside_a_quarter_of_the_image_is_refused(pad):
    with pytest.raises(ConfigError, match="random_shift must be in"):
        tiny_config(random_shift=pad).validate()
