"""The spatial-softmax keypoint encoder: points land on peaks, it fits LeWM, trains, and survives a checkpoint."""
import pytest
import torch
from test_decoder import batch
from test_world_model import fit, small_cfg

from world_model import ConfigError, LeWM
from world_model.model.keypoint_encoder import KeypointEncoder, spatial_expectation, spatial_moments


@pytest.mark.parametrize("row, col, expected", [
    (0, 0, (-1.0, -1.0)), (0, 7, (1.0, -1.0)), (7, 0, (-1.0, 1.0)), (7, 7, (1.0, 1.0)), (3, 5, (3 / 7, -1 / 7)),
])
def test_a_sharp_peak_gives_its_own_position(row, col, expected):
    logits = torch.zeros(1, 1, 8, 8)
    logits[0, 0, row, col] = 100.0
    point = spatial_expectation(logits, torch.tensor(1.0))[0, 0]
    assert point.tolist() == pytest.approx(list(expected), abs=1e-4)


def test_a_flat_map_points_at_the_centre_and_temperature_spreads_the_mass():
    assert spatial_expectation(torch.zeros(2, 3, 8, 8), torch.tensor(1.0)).abs().max() < 1e-6
    logits = torch.zeros(1, 1, 8, 8)
    logits[0, 0, 0, 0] = 5.0
    sharp, soft = (spatial_expectation(logits, torch.tensor(t))[0, 0, 0] for t in (0.1, 10.0))
    assert sharp < soft < 0


def test_a_low_starting_temperature_spreads_fresh_points_over_the_image():
    images = torch.rand(4, 3, 16, 16)
    spread = {}
    for t in (1.0, 0.1):
        torch.manual_seed(0)
        enc = KeypointEncoder(16, [4, 8, 8], keypoints=6, width=12, temperature=t)
        assert float(enc.log_temperature.detach().exp()) == pytest.approx(t)
        with torch.no_grad():
            spread[t] = float(enc(images, with_points=True)[1].std(dim=1).mean())
    assert spread[0.1] > 2 * spread[1.0]


def test_the_encoder_moves_its_points_with_the_object():
    torch.manual_seed(0)
    enc = KeypointEncoder(16, [4, 8, 8], keypoints=4, width=12).eval()
    left, right = torch.zeros(2, 3, 16, 16)
    left[:, 6:10, 1:5] = 1.0
    right[:, 6:10, 11:15] = 1.0
    assert enc(torch.stack([left, right])).shape == (2, 12)
    feats = enc.trunk(enc.normalize(torch.stack([left, right])))
    x = spatial_expectation(enc.points(feats), enc.log_temperature.exp())[..., 0]
    assert (x[1] - x[0]).mean() > 0.02  # even untrained, the points follow the bright square to the right


def test_moments_tell_which_way_a_bar_lies_where_its_mean_cannot():
    bars = torch.full((2, 1, 16, 16), -50.0)
    bars[0, 0, 7:9, 2:14] = 0.0  # a horizontal bar, then the same bar turned upright about the same centre
    bars[1, 0, 2:14, 7:9] = 0.0
    stats = spatial_moments(bars, torch.tensor(1.0))[:, 0]  # (2, 5)
    assert torch.allclose(stats[0, :2], stats[1, :2], atol=1e-5)  # same mean: the points alone see no turn
    assert stats[0, 2] > 4 * stats[0, 3] and stats[1, 3] > 4 * stats[1, 2]  # var x vs var y swap
    assert torch.allclose(spatial_moments(torch.zeros(1, 1, 8, 8), torch.tensor(1.0))[0, 0, :2], torch.zeros(2),
                          atol=1e-6)
    diagonal = torch.full((1, 1, 16, 16), -50.0)
    for i in range(2, 14):
        diagonal[0, 0, i, i] = 0.0
    assert spatial_moments(diagonal, torch.tensor(1.0))[0, 0, 4] > 0.1  # x and y grow together


@pytest.mark.slow
def test_the_moments_option_feeds_five_numbers_per_point_and_trains(tmp_path):
    enc = KeypointEncoder(16, [4, 8, 8], keypoints=4, width=12, moments=True)
    assert enc.fc.in_features == 5 * 4 + 8
    out, points = enc(torch.rand(3, 3, 16, 16), with_points=True)
    assert out.shape == (3, 12) and points.shape == (3, 4, 2)
    torch.manual_seed(0)
    model = LeWM(small_cfg(encoder="keypoints", keypoint_trunk=[4, 8, 8], keypoints=4, keypoint_moments=True))
    windows = batch(model.cfg, b=3)
    first, last = fit(model, windows, "total", steps=20)
    assert last < first
    model.save(tmp_path / "ckpt")
    assert LeWM.load(tmp_path / "ckpt").cfg.keypoint_moments is True


@pytest.mark.slow
def test_lewm_with_keypoints_trains_and_reloads(tmp_path):
    torch.manual_seed(0)
    model = LeWM(small_cfg(encoder="keypoints", keypoint_trunk=[4, 8, 8], keypoints=4, recon_lambda=1.0))
    windows = batch(model.cfg, b=3)
    first, last = fit(model, windows, "total", steps=30)
    assert last < first
    model.save(tmp_path / "ckpt")
    loaded = LeWM.load(tmp_path / "ckpt").eval()
    pixels = windows["pixels"][:, :1]
    assert torch.allclose(loaded.encode(pixels), model.eval().encode(pixels), atol=1e-5)


@pytest.mark.parametrize("changes, message", [
    (dict(image_size=18), "divisible by 4"),
    (dict(keypoint_trunk=[8]), "2\\+ layers"),
    (dict(keypoints=0), "keypoints must be at least 1"),
    (dict(encoder="resnet"), "encoder must be one of 'cnn', 'vit', 'keypoints', got 'resnet'"),
    (dict(keypoint_temperature=0.0), "keypoint_temperature must be greater than 0"),
])
def test_bad_keypoint_settings_are_refused(changes, message):
    with pytest.raises(ConfigError, match=message):
        small_cfg(**{"encoder": "keypoints", **changes}).validate()
