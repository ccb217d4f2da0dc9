"""oneDNN-packed weights of the bf16 planning rollout: the same products as F.linear, the same rollouts."""

import pytest
import torch
import torch.nn.functional as F
from test_fast_rollout import trained_like

from world_model.rollout.packed_linear import Linear, can_pack, cpu_packs_bf16

needs_pack = pytest.mark.skipif(not can_pack("cpu", torch.bfloat16), reason="no oneDNN bf16 linear here")


@pytest.mark.parametrize("dtype, device, expected", [
    (torch.bfloat16, "cpu", None),  # where this CPU's oneDNN packs bf16 (not on AVX2-only CPUs)
    (torch.float32, "cpu", False),  # fp32 runs MKL's own GEMM: nothing to pack
    (torch.bfloat16, "meta", False),
])
def test_packing_is_offered_only_for_cpu_bf16(dtype, device, expected):
    assert can_pack(device, dtype) == (cpu_packs_bf16() if expected is None else expected)


@needs_pack
@pytest.mark.parametrize("shape", [(5, 24), (3, 4, 24), (1, 24)])
@pytest.mark.parametrize("gelu", [False, True])
def test_packed_linear_equals_f_linear(shape, gelu):
    g = torch.Generator().manual_seed(0)
    w, b = torch.randn(40, 24, generator=g).bfloat16(), torch.randn(40, generator=g).bfloat16()
    x = torch.randn(*shape, generator=g).bfloat16()
    plain = Linear(w, b)
    packed = Linear(w, b)
    packed.pack(rows_hint=7)  # any row count works, not only the hint
    ref, out = plain(x, gelu=gelu), packed(x, gelu=gelu)
    assert out.shape == ref.shape == (*shape[:-1], 40) and out.dtype == torch.bfloat16
    expected = F.gelu(F.linear(x, w, b)) if gelu else F.linear(x, w, b)
    assert torch.equal(ref, expected)
    tol = 0.02 * ref.float().abs().max()  # the fused GELU rounds once less than GELU after the product
    assert (out.float() - ref.float()).abs().max() <= tol


@needs_pack
def test_packed_bf16_rollout_matches_the_unpacked_one():
    m = trained_like()
    g = torch.Generator().manual_seed(3)
    z, a = torch.randn(2, 3, 32, generator=g), torch.randn(2, 2, 10, generator=g)
    plan = torch.randn(2, 16, 5, 10, generator=g)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        m.pack_rollout_weights = False
        ref = m.rollout(z, a, plan)
        assert not m._fast.packed
        m.pack_rollout_weights = True
        out = m.rollout(z, a, plan)
        assert m._fast.packed and m._fast.blocks[0].fc1.packed is not None
    rel = (out - ref).norm(dim=-1) / ref.norm(dim=-1)
    assert rel.max() < 0.02, rel.max()
