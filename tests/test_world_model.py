"""LeWM model: shapes, presets, AdaLN-zero, causality, rollout, actions, gradients, checkpoints."""
from pathlib import Path

import pytest
import torch

from world_model import CheckpointMismatchError, ConfigError, LeWM, LeWMConfig
from world_model.model.predictor import AdaLNZeroBlock

CONFIGS = Path(__file__).resolve().parents[1] / "experiments" / "configs"


def small_cfg(**changes) -> LeWMConfig:
    base = dict(image_size=16, cnn_channels=[8, 16], embed_dim=32, enc_width=32, proj_hidden=64, pred_depth=2,
                pred_heads=2, pred_dim_head=16, pred_mlp_dim=64, pred_dropout=0.0, sigreg_projections=64,
                action_mean=[0.1, -0.2], action_std=[0.5, 2.0])
    base.update(changes)
    return LeWMConfig.preset("cpu").replace(**base)


def fit(model, batch: dict, term: str, steps: int, lr: float = 3e-3) -> tuple[float, float]:
    """``steps`` Adam steps on ``model.loss(batch)[term]``; returns that loss before and after."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    first = float(model.loss(batch)[term].detach())
    for _ in range(steps):
        opt.zero_grad()
        model.loss(batch)[term].backward()
        opt.step()
    return first, float(model.loss(batch)[term].detach())


@pytest.fixture
def model():
    torch.manual_seed(0)
    m = LeWM(small_cfg())
    with torch.no_grad():  # leave AdaLN-zero init so predictions depend on actions and history
        for p in m.predictor.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return m.eval()


def test_presets_match_yaml_files():
    for name in ("paper", "cpu"):
        assert LeWMConfig.from_yaml(CONFIGS / f"{name}.yaml") == LeWMConfig.preset(name)
    reacher = LeWMConfig.from_yaml(CONFIGS / "reacher.yaml")
    assert reacher.encoder == "cnn" and reacher.image_size == 64 and reacher.task == "reacher"


def test_paper_preset_parameter_count_and_shapes():
    torch.manual_seed(0)
    wm = LeWM(LeWMConfig.preset("paper")).eval()
    n = wm.num_parameters()
    assert abs(n["total"] - 18.03e6) / 18.03e6 < 0.02, n
    assert abs(n["encoder"] - 5.50e6) / 5.50e6 < 0.02 and abs(n["predictor"] - 10.79e6) / 10.79e6 < 0.02
    with torch.no_grad():
        z = wm.encode(torch.zeros(1, 2, 224, 224, 3, dtype=torch.uint8))
        assert z.shape == (1, 2, 192)
        assert wm.predict(z, torch.zeros(1, 2, 10)).shape == (1, 2, 192)


def test_cpu_preset_shapes():
    torch.manual_seed(0)
    wm = LeWM(LeWMConfig.preset("cpu")).eval()
    with torch.no_grad():
        z = wm.encode(torch.randint(0, 256, (2, 3, 64, 64, 3), dtype=torch.uint8))
        assert z.shape == (2, 3, 192)
        assert wm.predict(z, torch.zeros(2, 3, 10)).shape == (2, 3, 192)
        assert wm.rollout(z, torch.zeros(2, 2, 10), torch.zeros(2, 5, 4, 10)).shape == (2, 5, 4, 192)


def test_encode_layouts_and_dtypes(model):
    px = torch.randint(0, 256, (2, 3, 16, 16, 3), dtype=torch.uint8)
    with torch.no_grad():
        z = model.encode(px)
        assert z.shape == (2, 3, 32)
        torch.testing.assert_close(model.encode(px.permute(0, 1, 4, 2, 3)), z)
        torch.testing.assert_close(model.encode(px.float() / 255), z)
        torch.testing.assert_close(model.encode(px[:, 0]), z[:, 0])
    with pytest.raises(ValueError, match="16, 16, 3"):
        model.encode(torch.zeros(1, 1, 32, 32, 3, dtype=torch.uint8))


def test_adaln_zero_block_is_identity_at_init():
    torch.manual_seed(0)
    block = AdaLNZeroBlock(32, heads=2, dim_head=16, mlp_dim=64, dropout=0.1).eval()
    x, c = torch.randn(3, 4, 32), torch.randn(3, 4, 32)
    torch.testing.assert_close(block(x, c), x)
    torch.testing.assert_close(block(x, c, last_only=True), x[:, -1:])


def test_prediction_is_causal(model):
    z, a = torch.randn(2, 3, 32), torch.randn(2, 3, 10)
    with torch.no_grad():
        ref = model.predict(z, a)
        z2, a2 = z.clone(), a.clone()
        z2[:, 2] += 1.0
        a2[:, 2] += 1.0
        out = model.predict(z2, a2)
    torch.testing.assert_close(out[:, :2], ref[:, :2])
    assert not torch.allclose(out[:, 2], ref[:, 2])
    with torch.no_grad():  # and the action at t changes the prediction at t
        a3 = a.clone()
        a3[:, 1] += 1.0
        assert not torch.allclose(model.predict(z, a3)[:, 1], ref[:, 1])


def _rollout_by_predict(model, z_hist, a_hist, plan):
    """Reference rollout: repeated ``predict`` over the last history_size frames, per candidate."""
    b, n, horizon, _ = plan.shape
    hist = model.cfg.history_size
    out = torch.empty(b, n, horizon, z_hist.shape[-1])
    for i in range(n):
        zs, acts = list(z_hist.unbind(1)), list(a_hist.unbind(1)) + list(plan[:, i].unbind(1))
        for h in range(horizon):
            lo = max(0, len(zs) - hist)
            z_next = model.predict(torch.stack(zs[lo:], 1), torch.stack(acts[lo: len(zs)], 1))[:, -1]
            zs.append(z_next)
            out[:, i, h] = z_next
    return out


@pytest.mark.parametrize("th", [1, 2, 3])
def test_rollout_equals_repeated_predict(model, th):
    torch.manual_seed(1)
    z_hist, a_hist, plan = torch.randn(2, th, 32), torch.randn(2, th - 1, 10), torch.randn(2, 3, 5, 10)
    with torch.no_grad():
        fast = model.rollout(z_hist, a_hist, plan)
        slow = _rollout_by_predict(model, z_hist, a_hist, plan)
    assert fast.shape == (2, 3, 5, 32)
    torch.testing.assert_close(fast, slow, rtol=1e-4, atol=1e-5)


def test_rollout_without_action_history_and_under_bf16_autocast(model):
    z_hist, plan = torch.randn(2, 3, 32), torch.randn(2, 4, 3, 10)
    with torch.no_grad():
        ref = model.rollout(z_hist, torch.zeros(2, 2, 10), plan)
        torch.testing.assert_close(model.rollout(z_hist, None, plan), ref)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model.rollout(z_hist, None, plan)
    assert low.shape == ref.shape and torch.isfinite(low).all()
    assert (low.float() - ref).abs().max() < 0.1 * ref.abs().max()


def test_action_normalisation_round_trip(model):
    raw = torch.tensor([[0.1, -0.2] * 5, [0.6, 1.8] * 5])
    norm = model.normalize_actions(raw)
    torch.testing.assert_close(norm[0], torch.zeros(10))
    torch.testing.assert_close(norm[1, :2], torch.tensor([1.0, 1.0]))
    torch.testing.assert_close(model.denormalize_actions(norm), raw)
    assert model.denormalize_actions(torch.zeros(3, 4, 10)).shape == (3, 4, 10)


def test_gradients_reach_encoder_through_both_terms():
    torch.manual_seed(0)
    wm = LeWM(small_cfg())
    batch = {"pixels": torch.randint(0, 256, (8, 4, 16, 16, 3), dtype=torch.uint8), "action": torch.randn(8, 4, 10)}
    for term in ("pred", "sigreg"):
        wm.zero_grad()
        wm.loss(batch)[term].backward()
        grads = [p.grad for p in wm.encoder.parameters()]
        assert all(g is not None for g in grads) and sum(float(g.abs().sum()) for g in grads) > 0, term
    losses = wm.loss(batch)
    torch.testing.assert_close(losses["total"], losses["pred"] + wm.cfg.sigreg_lambda * losses["sigreg"])


def test_extra_predicted_frames_are_trained_open_loop_as_the_planner_rolls_out():
    torch.manual_seed(0)
    wm = LeWM(small_cfg(num_preds=3)).eval()  # windows of 3 history + 3 predicted frames
    batch = {"pixels": torch.randint(0, 256, (4, 6, 16, 16, 3), dtype=torch.uint8), "action": torch.randn(4, 6, 10)}
    with torch.no_grad():
        losses = wm.loss(batch)
        z = wm.encode(batch["pixels"])
        a = batch["action"]
        rolled = wm.rollout(z[:, :3], a[:, :2], a[:, None, 2:5])[:, 0]  # frames 3, 4, 5 from frames 0-2
    expected = torch.stack([(rolled[:, k] - z[:, 3 + k]).pow(2).mean() for k in (1, 2)]).mean()
    torch.testing.assert_close(losses["rollout"], expected, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(losses["total"], losses["pred"] + wm.cfg.sigreg_lambda * losses["sigreg"]
                               + losses["rollout"])
    assert "rollout" not in LeWM(small_cfg()).loss({k: v[:, :4] for k, v in batch.items()})


def test_save_load_round_trip(tmp_path, model):
    model.save(tmp_path / "ck")
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["config.yaml", "model.safetensors"]
    loaded = LeWM.load(tmp_path / "ck")
    assert loaded.cfg == model.cfg
    px = torch.randint(0, 256, (2, 3, 16, 16, 3), dtype=torch.uint8)
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode(px), model.encode(px))
    model.save(tmp_path / "half", half=True)
    half = LeWM.load(tmp_path / "half")
    assert all(p.dtype == torch.float32 for p in half.parameters())
    size = lambda name: (tmp_path / name / "model.safetensors").stat().st_size  # noqa: E731
    assert size("half") < 0.6 * size("ck")
    with torch.no_grad():
        torch.testing.assert_close(half.encode(px), model.encode(px), rtol=0.05, atol=0.05)


def test_load_refuses_mismatched_config(tmp_path, model):
    model.save(tmp_path / "ck")
    sha = LeWMConfig.from_yaml(tmp_path / "ck" / "config.yaml").weights_sha256  # the weights stay verified
    model.cfg.replace(pred_depth=3, weights_sha256=sha).to_yaml(tmp_path / "ck" / "config.yaml")
    with pytest.raises(CheckpointMismatchError, match="missing keys: predictor.blocks.2"):
        LeWM.load(tmp_path / "ck")
    model.cfg.replace(proj_hidden=32, weights_sha256=sha).to_yaml(tmp_path / "ck" / "config.yaml")
    with pytest.raises(ValueError, match="shape mismatch: pred_proj.net.0.bias"):
        LeWM.load(tmp_path / "ck")
    with pytest.raises(FileNotFoundError, match="not found"):
        LeWM.load(tmp_path / "nowhere")


def test_config_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("preset: cpu\nlearning_rate: 0.1\n")
    with pytest.raises(ConfigError, match="unknown config key\\(s\\): learning_rate"):
        LeWMConfig.from_yaml(bad)
    with pytest.raises(ConfigError, match="must be an integer"):
        LeWMConfig.from_dict({"batch_size": 1.5})
    with pytest.raises(ConfigError, match="keypoint_moments must be true or false"):
        LeWMConfig.from_dict({"keypoint_moments": "yes"})
    with pytest.raises(ConfigError, match="unknown preset"):
        LeWMConfig.preset("huge")
    with pytest.raises(ConfigError, match="lr must be a finite number, got 'fast'"):
        LeWMConfig.from_dict({"lr": "fast"})


def test_numbers_yaml_reads_as_strings_are_numbers(tmp_path):
    """YAML 1.1 reads 2e-4 (no dot) as a string; lewm-train --set lr=2e-4 and a config file saying so work."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text("preset: cpu\nlr: 2e-4\nsteps: 1e3\n")
    loaded = LeWMConfig.from_yaml(cfg)
    assert loaded.lr == pytest.approx(2e-4) and loaded.steps == 1000 and isinstance(loaded.steps, int)
    with pytest.raises(FileNotFoundError):
        LeWMConfig.from_yaml(tmp_path / "missing.yaml")
