"""The fast planning rollout gives the plain (reference) rollout's predictions, and with them the same plans."""
import pytest
import torch

from conftest import DEVICES
from planners import CEM
from world_model import LeWM, LeWMConfig
from world_model.rollout.fast_rollout import FastRollout


def trained_like(history_size=3, depth=2, device="cpu", seed=0) -> LeWM:
    """A small LeWM with every weight non-trivial: AdaLN-zero layers, LayerNorm affines and BatchNorm running
    statistics perturbed, so that any mis-folded affine or skipped token shows up in the outputs."""
    torch.manual_seed(seed)
    cfg = LeWMConfig.preset("cpu").replace(image_size=16, cnn_channels=[8, 16], embed_dim=32, proj_hidden=64,
                                           pred_depth=depth, pred_heads=2, pred_dim_head=16, pred_mlp_dim=64,
                                           pred_dropout=0.0, history_size=history_size)
    m = LeWM(cfg)
    with torch.no_grad():
        for p in list(m.predictor.parameters()) + list(m.pred_proj.parameters()):
            p.add_(0.1 * torch.randn_like(p))
        bn = m.pred_proj.net[1]
        bn.running_mean.normal_(0, 0.3)
        bn.running_var.uniform_(0.5, 2.0)
    return m.to(device).eval()


def reference(m: LeWM, z_hist, a_hist, plan):
    with torch.enable_grad():  # the plain path runs whenever autograd is on
        return m.rollout(z_hist, a_hist, plan).detach()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("history_size,th,horizon", [(3, 1, 5), (3, 2, 5), (3, 3, 4), (3, 3, 1), (1, 1, 3), (4, 2, 7),
                                                     (4, 4, 6), (2, 3, 4)])
def test_fast_rollout_equals_plain_rollout(device, history_size, th, horizon):
    m = trained_like(history_size=history_size, device=device)
    g = torch.Generator().manual_seed(1)
    z = torch.randn(2, th, 32, generator=g).to(device)
    a = torch.randn(2, th - 1, 10, generator=g).to(device) if th > 1 else None
    plan = torch.randn(2, 7, horizon, 10, generator=g).to(device)
    with torch.no_grad():
        fast = m.rollout(z, a, plan)
    ref = reference(m, z, a, plan)
    assert fast.shape == ref.shape == (2, 7, horizon, 32)
    torch.testing.assert_close(fast, ref, rtol=1e-4, atol=1e-5)


def test_fast_path_is_used_only_without_autograd_in_eval_mode(monkeypatch):
    m = trained_like()
    calls = []
    original = FastRollout.rollout
    monkeypatch.setattr(FastRollout, "rollout", lambda self, *a: calls.append(1) or original(self, *a))
    z, plan = torch.randn(1, 1, 32), torch.randn(1, 3, 4, 10)
    with torch.no_grad():
        m.rollout(z, None, plan)
    with torch.inference_mode():
        m.rollout(z, None, plan)
    assert len(calls) == 2
    m.rollout(z, None, plan)  # autograd on: the differentiable plain path
    m.train()
    with torch.no_grad():
        m.rollout(z, None, plan)
    assert len(calls) == 2


def test_fast_rollout_follows_weight_changes():
    """Folded weights are rebuilt when a parameter or the BatchNorm statistics change (training, load)."""
    m = trained_like()
    z, plan = torch.randn(1, 1, 32), torch.randn(1, 3, 4, 10)
    with torch.no_grad():
        before = m.rollout(z, None, plan)
        m.predictor.blocks[0].mlp.net[1].weight.mul_(1.5)
        after_param = m.rollout(z, None, plan)
        m.pred_proj.net[1].running_mean.add_(0.5)
        after_bn = m.rollout(z, None, plan)
    assert not torch.allclose(before, after_param)
    torch.testing.assert_close(after_bn, reference(m, z, None, plan), rtol=1e-4, atol=1e-5)


def test_fast_and_plain_rollouts_give_the_same_cem_plan():
    m = trained_like()
    z, goal = torch.randn(1, 2, 32), torch.randn(1, 32)
    a = torch.randn(1, 1, 10)

    def cost(use_fast):
        def fn(candidates):
            with torch.set_grad_enabled(not use_fast):
                z_pred = m.rollout(z, a, candidates)
            return (z_pred - goal[:, None, None]).square().sum(-1).mean(-1).detach()
        return fn

    plans = [CEM(horizon=4, action_dim=10, num_samples=64, n_iters=4, topk=8, seed=0).plan(cost(f)).actions
             for f in (True, False)]
    torch.testing.assert_close(plans[0], plans[1], rtol=1e-4, atol=1e-5)


def test_chunked_fast_rollout_equals_one_piece():
    m = trained_like()
    z, plan = torch.randn(3, 2, 32), torch.randn(3, 5, 4, 10)
    a = torch.randn(3, 1, 10)
    with torch.no_grad():
        whole = m.rollout(z, a, plan)
        m.rollout_chunk = 4  # 15 candidates in 4 pieces, the last one short
        chunked = m.rollout(z, a, plan)
    torch.testing.assert_close(chunked, whole, rtol=1e-5, atol=1e-6)


def test_fast_rollout_of_a_model_built_under_inference_mode():
    """Inference tensors carry no version counter; the weight-change key must not need one."""
    with torch.inference_mode():
        m = trained_like()
        z, plan = torch.randn(1, 3, 32), torch.randn(1, 4, 5, 10)
        fast = m.rollout(z, None, plan)
        m.use_fast_rollout = False
        plain = m.rollout(z, None, plan)
    torch.testing.assert_close(fast, plain, rtol=1e-4, atol=1e-5)
