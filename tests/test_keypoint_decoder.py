"""The keypoint-bottleneck decoder: bumps where the points are, points linear in z, it draws moving objects, LeWM
trains and reloads with it, and bad settings are refused."""
import pytest
import torch
from test_decoder import batch
from test_world_model import fit, small_cfg

from world_model import ConfigError, LeWM
from world_model.model.decoder import reconstruction_loss
from world_model.model.keypoint_decoder import KeypointDecoder, gaussian_maps


@pytest.mark.parametrize("x, y, row, col", [
    (-1.0, -1.0, 0, 0), (1.0, -1.0, 0, 7), (-1.0, 1.0, 7, 0), (3 / 7, -1 / 7, 3, 5),
])
def test_a_bump_peaks_at_its_point(x, y, row, col):
    maps = gaussian_maps(torch.tensor([[[x, y]]]), size=8, sigma=0.2)[0, 0]
    assert maps[row, col] == pytest.approx(1.0, abs=1e-5)
    assert int(maps.argmax()) == row * 8 + col
    assert maps[(row + 4) % 8, col] < 0.01  # four cells (8/7 in [-1, 1] units) away: gone


def test_the_points_are_read_linearly_off_the_embedding():
    torch.manual_seed(0)
    dec = KeypointDecoder(embed_dim=6, image_size=16, keypoints=3, width=8)
    z = torch.randn(5, 6)
    with torch.no_grad():
        drawn = dec(z)
    expected = torch.tanh(z @ dec.to_points.weight.T + dec.to_points.bias).view(5, 3, 2)
    assert torch.allclose(dec.points(z), expected)
    assert drawn.shape == (5, 3, 16, 16) and 0 <= float(drawn.min()) and float(drawn.max()) <= 1


def square_at(xy: torch.Tensor, size: int = 16) -> torch.Tensor:
    """(N, 2) centres in [-1, 1] -> (N, 3, size, size) white frames with a dark 3x3 square there."""
    images = torch.ones(len(xy), 3, size, size)
    cells = ((xy + 1) / 2 * (size - 3)).round().long()
    for i, (c, r) in enumerate(cells.tolist()):
        images[i, :, r:r + 3, c:c + 3] = 0.0
    return images


def dark_centroid_x(images: torch.Tensor) -> torch.Tensor:
    dark = (1 - images.mean(1)).clamp(min=0)
    xs = torch.arange(images.shape[-1], dtype=torch.float32)
    return (dark.sum(1) * xs).sum(-1) / dark.sum((1, 2))


@pytest.mark.slow
def test_it_learns_to_draw_an_object_where_the_embedding_says():
    """Under plain MSE this toy settles on the empty table (a 3x3 square is 4 % of the pixels); the foreground
    weighting (``recon_focus``) is what makes drawing the square pay."""
    torch.manual_seed(0)
    dec = KeypointDecoder(embed_dim=2, image_size=16, keypoints=2, width=16, sigma=0.2)
    opt = torch.optim.Adam(dec.parameters(), lr=1e-2)
    test_xy = torch.tensor([[-0.8, 0.0], [0.0, 0.0], [0.8, 0.0]])
    with torch.no_grad():
        first = float(reconstruction_loss(dec(test_xy), square_at(test_xy), focus=5.0))
    for _ in range(150):
        xy = torch.rand(32, 2) * 2 - 1
        loss = reconstruction_loss(dec(xy), square_at(xy), focus=5.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        drawn = dec(test_xy)
        assert float(reconstruction_loss(drawn, square_at(test_xy), focus=5.0)) < 0.3 * first
    left, middle, right = dark_centroid_x(drawn).tolist()
    assert left < middle - 2 and middle < right - 2  # the square is drawn where z puts it, not as a fixed blob


@pytest.mark.slow
def test_lewm_with_the_keypoint_decoder_trains_and_reloads(tmp_path):
    torch.manual_seed(0)
    model = LeWM(small_cfg(decoder="keypoints", recon_keypoints=4, recon_lambda=1.0, sigreg_lambda=0.0))
    assert isinstance(model.decoder, KeypointDecoder)
    first, last = fit(model, batch(model.cfg, b=2), "recon", steps=40)
    assert last < first
    model.save(tmp_path / "ckpt")
    loaded = LeWM.load(tmp_path / "ckpt")
    assert isinstance(loaded.decoder, KeypointDecoder)
    assert torch.equal(loaded.decoder.to_points.weight, model.decoder.to_points.weight)


@pytest.mark.slow
def test_image_keypoints_draw_the_encoders_points_and_the_embedding_learns_to_hold_them():
    torch.manual_seed(0)
    model = LeWM(small_cfg(encoder="keypoints", keypoint_trunk=[4, 8, 8], keypoints=4, decoder="image_keypoints",
                           recon_lambda=1.0, sigreg_lambda=0.0))
    windows = batch(model.cfg, b=2)
    parts = model.loss(windows)
    expected = parts["pred"] + parts["recon"] + parts["readout"]
    assert float(parts["total"].detach()) == pytest.approx(float(expected.detach()), rel=1e-5)
    first, last = fit(model, windows, "readout", steps=40)
    assert last < 0.5 * first  # the linear readout of z finds the encoder's points


@pytest.mark.parametrize("changes, message", [
    (dict(decoder="gan"), "decoder must be 'pixel', 'keypoints' or 'image_keypoints'"),
    (dict(decoder="image_keypoints"), "set encoder: keypoints"),
    (dict(decoder="keypoints", recon_keypoints=0), "recon_keypoints must be at least 1"),
])
def test_bad_decoder_settings_are_refused(changes, message):
    with pytest.raises(ConfigError, match=message):
        small_cfg(**changes).validate()


def test_the_image_side_must_divide_by_four():
    with pytest.raises(ValueError, match="divisible by 4, not 18"):
        KeypointDecoder(8, 18)
