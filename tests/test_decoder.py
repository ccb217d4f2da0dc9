"""The optional pixel decoder (``recon_lambda``): off by default, a training term when on, saved and loaded."""

import pytest
import torch
from test_world_model import fit, small_cfg

from world_model import LeWM
from world_model.model.decoder import PixelDecoder, reconstruction_loss


def batch(cfg, b=4):
    g = torch.Generator().manual_seed(0)
    t = cfg.history_size + 1
    return {"pixels": torch.randint(0, 256, (b, t, cfg.image_size, cfg.image_size, 3), generator=g,
                                    dtype=torch.uint8),
            "action": torch.randn(b, t, cfg.action_block_dim, generator=g)}


def test_off_by_default_and_the_loss_is_unchanged():
    torch.manual_seed(0)
    plain = LeWM(small_cfg())
    assert plain.decoder is None and "decoder" not in plain.num_parameters()
    torch.manual_seed(0)
    with_decoder = LeWM(small_cfg(recon_lambda=2.0))
    with_decoder.load_state_dict({**plain.state_dict(), **{k: v for k, v in with_decoder.state_dict().items()
                                                           if k.startswith("decoder.")}})
    b = batch(plain.cfg)
    gen = lambda: torch.Generator().manual_seed(1)  # noqa: E731  SIGReg's directions
    a, c = plain.loss(b, generator=gen()), with_decoder.loss(b, generator=gen())
    assert "recon" not in a and float(c["recon"].detach()) > 0
    assert float(c["total"].detach()) == pytest.approx(float(a["total"].detach()) + 2.0 * float(c["recon"].detach()),
                                                       rel=1e-5)
    assert with_decoder.num_parameters()["decoder"] > 0


@pytest.mark.slow
def test_the_decoder_learns_to_redraw_frames_and_survives_a_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = LeWM(small_cfg(recon_lambda=1.0, sigreg_lambda=0.0))
    first, last = fit(model, batch(model.cfg, b=2), "recon", steps=60)
    assert last < 0.5 * first
    model.save(tmp_path / "ckpt")
    loaded = LeWM.load(tmp_path / "ckpt")
    assert loaded.decoder is not None
    assert torch.equal(loaded.decoder.grid.weight, model.decoder.grid.weight)


@pytest.mark.parametrize("size, channels, grid", [(16, [8, 16], 4), (32, [8, 16], 8), (20, [8, 16], 5),
                                                   (64, [16, 32, 64, 128], 4), (96, [16, 32, 64, 128], 6)])
def test_the_decoder_draws_any_side_its_stages_can_double_to(size, channels, grid):
    decoder = PixelDecoder(32, size, channels)
    assert decoder.grid_size == grid and decoder(torch.zeros(3, 32)).shape == (3, 3, size, size)


@pytest.mark.parametrize("size", [18, 30, 4])
def test_a_side_the_stages_cannot_reach_is_refused(size):
    with pytest.raises(ValueError, match=f"{size} px is not a multiple of 4 of at least 8 px"):
        PixelDecoder(32, size, [8, 16])


def test_focus_weighs_the_moving_objects_error_more_than_the_tables():
    images = torch.full((8, 3, 16, 16), 0.9)
    for i in range(8):  # a dark 3x3 object at a different place in every frame; the table stays
        images[i, :, i:i + 3, 2 * i % 13:2 * i % 13 + 3] = 0.1
    blurred_object = images.clone()
    blurred_object[images < 0.5] = 0.5
    noisy_table = images + 0.1 * (images > 0.5)
    assert reconstruction_loss(blurred_object, images) == pytest.approx(float((blurred_object - images).pow(2).mean()))
    for focus in (0.0, 20.0):
        obj, table = reconstruction_loss(blurred_object, images, focus), reconstruction_loss(noisy_table, images, focus)
        if focus == 0:
            plain_ratio = float(obj / table)
        else:
            assert float(obj / table) > 5 * plain_ratio
