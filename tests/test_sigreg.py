"""SIGReg: the reference formula, Gaussian vs collapsed, batch-order invariance, 2-process equality."""
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from world_model.model.sigreg import SIGReg


def reference_sigreg(proj: torch.Tensor, a: torch.Tensor, knots: int = 17) -> torch.Tensor:
    """The le-wm ``module.SIGReg.forward`` body, literally, with the directions ``a`` given."""
    t = torch.linspace(0, 3, knots, dtype=torch.float32)
    dt = 3 / (knots - 1)
    weights = torch.full((knots,), 2 * dt, dtype=torch.float32)
    weights[[0, -1]] = dt
    window = torch.exp(-t.square() / 2.0)
    x_t = (proj @ a).unsqueeze(-1) * t
    err = (x_t.cos().mean(-3) - window).square() + x_t.sin().mean(-3).square()
    statistic = (err @ (weights * window)) * proj.size(-2)
    return statistic.mean()


def _directions(d, m, seed):
    a = torch.randn(d, m, generator=torch.Generator().manual_seed(seed))
    return a / a.norm(p=2, dim=0)


def test_matches_reference_code_value_and_gradient():
    z = torch.randn(4, 64, 16)
    z1, z2 = z.clone().requires_grad_(True), z.clone().requires_grad_(True)
    ours = SIGReg(num_proj=128)(z1, generator=torch.Generator().manual_seed(3))
    ref = reference_sigreg(z2, _directions(16, 128, 3))
    torch.testing.assert_close(ours, ref)
    ours.backward()
    ref.backward()
    torch.testing.assert_close(z1.grad, z2.grad, rtol=1e-4, atol=1e-7)


def test_small_for_gaussian_large_for_collapsed():
    sig = SIGReg(num_proj=256)
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    gauss = float(sig(torch.randn(4, 512, 32), generator=gen()))
    collapsed = float(sig(torch.ones(4, 512, 32) + 0.01 * torch.randn(4, 512, 32), generator=gen()))
    low_rank = float(sig(torch.randn(4, 512, 1) * torch.randn(1, 1, 32), generator=gen()))
    # For N(0, I) samples E[statistic] = int e^{-t^2/2} (1 - e^{-t^2}) dt over [-3, 3], about 1.06.
    assert 0.8 < gauss < 1.4
    assert collapsed > 100 * gauss and low_rank > 10 * gauss


def test_independent_of_batch_order():
    z = torch.randn(4, 100, 16)
    perm = torch.randperm(100)
    sig = SIGReg(num_proj=64)
    a = sig(z, generator=torch.Generator().manual_seed(5))
    b = sig(z[:, perm], generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(a, b)


def test_projection_directions_are_resampled_each_call():
    z = torch.randn(2, 32, 8)
    sig = SIGReg(num_proj=16)
    assert float(sig(z)) != float(sig(z))


def _worker(rank: int, world: int, init_file: str, z: torch.Tensor, out: dict) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        half = z.shape[1] // world
        mine = z[:, rank * half: (rank + 1) * half].clone().requires_grad_(True)
        # Different generators per rank: the statistic must still use rank 0's directions.
        stat = SIGReg(num_proj=64)(mine, generator=torch.Generator().manual_seed(7 + 100 * rank))
        stat.backward()
        out[rank] = (float(stat), mine.grad.clone())
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_processes_equal_single_process_on_whole_batch(tmp_path):
    torch.manual_seed(0)
    z = torch.randn(3, 40, 16)
    whole = z.clone().requires_grad_(True)
    single = SIGReg(num_proj=64)(whole, generator=torch.Generator().manual_seed(7))
    single.backward()
    with mp.Manager() as manager:
        out = manager.dict()
        mp.spawn(_worker, args=(2, str(tmp_path / "init"), z, out), nprocs=2, join=True)
        results = dict(out)
    for rank in range(2):
        stat, grad = results[rank]
        assert stat == pytest.approx(single.item(), rel=1e-5)
        # all_gather's backward sums both ranks' identical gradients; DDP's averaging divides by 2 again.
        torch.testing.assert_close(grad / 2, whole.grad[:, rank * 20: (rank + 1) * 20], rtol=1e-4, atol=1e-7)


def test_sigreg_is_fp32_under_autocast():
    z = torch.randn(2, 32, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        s = SIGReg(num_proj=16)(z, generator=torch.Generator().manual_seed(0))
    assert s.dtype == torch.float32
    torch.testing.assert_close(s, SIGReg(num_proj=16)(z, generator=torch.Generator().manual_seed(0)))
