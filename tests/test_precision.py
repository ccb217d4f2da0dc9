"""Precision chosen by measurement, and the native-bf16 fast rollout against the fp32 reference."""

import pytest
import torch
from conftest import DEVICES
from test_fast_rollout import trained_like

from planners import CEM
from world_model.rollout import precision
from world_model.rollout.precision import resolve_precision


def test_resolve_precision_keeps_explicit_choices_and_measures_auto(monkeypatch):
    assert resolve_precision("fp32", "cpu") == "fp32" and resolve_precision("bf16", "cpu") == "bf16"
    for faster, expected in ((True, "bf16"), (False, "fp32")):
        monkeypatch.setattr(precision, "bf16_is_faster", lambda device_type, faster=faster: faster)
        assert resolve_precision("auto", "cpu") == expected
    with pytest.raises(ValueError, match="precision must be one of auto, bf16, fp32"):
        resolve_precision("fp16", "cpu")


def test_bf16_timing_is_measured_once_per_process():
    precision.bf16_is_faster.cache_clear()
    first = precision.bf16_is_faster("cpu")
    assert precision.bf16_is_faster("cpu") is first and precision.bf16_is_faster.cache_info().hits == 1


@pytest.mark.parametrize("device", DEVICES)
def test_bf16_rollout_is_native_and_close_to_fp32(device):
    m = trained_like(device=device)
    g = torch.Generator().manual_seed(1)
    z, a = torch.randn(2, 3, 32, generator=g).to(device), torch.randn(2, 2, 10, generator=g).to(device)
    plan = torch.randn(2, 16, 5, 10, generator=g).to(device)
    with torch.inference_mode():
        ref = m.rollout(z, a, plan)
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16):
            fast = m.rollout(z, a, plan)
    assert m._fast.dtype == torch.bfloat16 and fast.dtype == ref.dtype == torch.float32
    rel = (fast - ref).norm(dim=-1) / ref.norm(dim=-1)
    assert rel.max() < 0.05, rel.max()  # bf16 keeps 8 bits of mantissa: ~1 % per op, a few % after 5 steps


def test_bf16_plans_match_fp32_plans():
    """The planner ranks candidates by cost; bf16 rounding must not change which plan wins by much."""
    m = trained_like()
    g = torch.Generator().manual_seed(2)
    z, a, goal = torch.randn(3, 3, 32, generator=g), torch.randn(3, 2, 10, generator=g), torch.randn(3, 1, 1, 32,
                                                                                                     generator=g)
    plans = {}
    for name, enabled in (("fp32", False), ("bf16", True)):
        def cost(c, enabled=enabled):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled):
                return (m.rollout(z, a, c).float() - goal).square().sum(-1).mean(-1)

        planner = CEM(horizon=5, action_dim=10, num_samples=64, topk=8, n_iters=5, seed=0)
        plans[name] = (planner.plan(cost, batch_size=3), cost)
    fp32_result, fp32_cost = plans["fp32"]
    bf16_result, _ = plans["bf16"]
    # Judged by the fp32 cost: the bf16 plan is (nearly) as good as the fp32 one.
    with torch.inference_mode():
        c32 = fp32_cost(fp32_result.actions[:, None])[:, 0]
        c16 = fp32_cost(bf16_result.actions[:, None])[:, 0]
    assert (c16 <= c32 * 1.05 + 1e-3).all(), (c16, c32)


def test_small_cpu_rollouts_run_on_one_thread_and_restore_the_count():
    from common.cpu_threads import SINGLE_THREAD_ROWS, planning_threads

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with planning_threads(SINGLE_THREAD_ROWS, "cpu"):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with planning_threads(SINGLE_THREAD_ROWS + 1, "cpu"):
            assert torch.get_num_threads() == 2
        with pytest.raises(RuntimeError):
            with planning_threads(1, "cpu"):
                raise RuntimeError("inside")
        assert torch.get_num_threads() == 2  # restored on errors too
    finally:
        torch.set_num_threads(before)
