"""The sampling core, the planners' refit hooks, argument validation and shift_plan, on tiny problems."""

import pytest
import torch

from planners import CEM, ICEM, MPPI, PlanResult, shift_plan

PLANNER_CLASSES = {"cem": CEM, "mppi": MPPI, "icem": ICEM}


def bowl(candidates):
    """``(B, N, H, A) -> (B, N)``: squared distance to 0.3 everywhere, for any B."""
    return (candidates - 0.3).square().sum(dim=(-1, -2))


class Recorder:
    """A cost function that records every candidate batch it is given."""

    def __init__(self, cost_fn):
        self.cost_fn = cost_fn
        self.calls = []

    def __call__(self, candidates):
        costs = self.cost_fn(candidates)
        self.calls.append((candidates.clone(), costs.clone()))
        return costs


@pytest.mark.parametrize("name", PLANNER_CLASSES)
def test_candidate_zero_is_the_mean_and_warm_start_is_used(name):
    init = torch.full((2, 5, 4), 0.25)
    init[1, 0, 0] = 5.0  # outside the box: clipped to 1
    recorder = Recorder(bowl)
    result = PLANNER_CLASSES[name](horizon=5, action_dim=4, n_iters=4, seed=0).plan(recorder, 2, init_mean=init)

    expected_init = init.clamp(-1, 1)
    assert torch.equal(recorder.calls[0][0][:, 0], expected_init)
    for (candidates, _), (next_candidates, _) in zip(recorder.calls[:-1], recorder.calls[1:]):
        assert not torch.equal(next_candidates[:, 0], candidates[:, 0])  # the mean moved
    final_candidates, final_costs = recorder.calls[-1]  # the extra evaluation of the returned plan
    assert final_candidates.shape == (2, 1, 5, 4)
    assert torch.equal(final_candidates[:, 0], result.actions)
    assert torch.equal(final_costs[:, 0], result.costs)


def test_eval_final_false_reports_candidate_zero_of_last_iteration():
    recorder = Recorder(bowl)
    result = CEM(horizon=5, action_dim=4, n_iters=3, seed=0, eval_final=False).plan(recorder, 2)
    assert len(recorder.calls) == 3
    assert torch.equal(result.costs, recorder.calls[-1][1][:, 0])


def test_history_holds_mean_elite_cost_per_iteration():
    recorder = Recorder(bowl)
    result = CEM(horizon=5, action_dim=4, n_iters=6, topk=10, seed=0).plan(recorder, 3, return_history=True)
    assert result.history.shape == (6, 3)
    for it, (_, costs) in enumerate(recorder.calls[:6]):
        torch.testing.assert_close(result.history[it], costs.topk(10, dim=1, largest=False).values.mean(dim=1))
    assert (result.history[-1] < result.history[0]).all()
    assert CEM(horizon=5, action_dim=4, n_iters=2).plan(bowl, 3).history is None


def test_results_are_ordinary_tensors_on_the_planner_dtype():
    result = MPPI(horizon=5, action_dim=4, n_iters=2, dtype=torch.float64).plan(bowl, 2)
    assert isinstance(result, PlanResult)
    assert result.actions.dtype == torch.float64
    assert not result.actions.is_inference()
    result.actions[:, 0] = 0.0  # the caller may modify the plan in place


def test_bfloat16_candidates_are_ranked_in_float32():
    result = CEM(horizon=5, action_dim=4, n_iters=3, dtype=torch.bfloat16).plan(bowl, 2)
    assert result.actions.dtype == torch.bfloat16
    assert result.costs.dtype == torch.float32


def test_nan_costs_are_never_elites():
    def cost_fn(candidates):
        cost = candidates.square().sum(dim=(-1, -2))
        return cost.masked_fill(candidates[..., 0, 0] > 0, float("nan"))

    result = CEM(horizon=2, action_dim=2, n_iters=5, seed=0).plan(cost_fn, 2, return_history=True)
    assert torch.isfinite(result.history).all()
    assert (result.actions[:, 0, 0] <= 0).all()


@pytest.mark.parametrize("name", PLANNER_CLASSES)
def test_no_host_sync_inside_plan(name, monkeypatch):
    """Every way a tensor reaches a Python value (a device sync on CUDA) fails while planning."""
    planner = PLANNER_CLASSES[name](horizon=5, action_dim=4, n_iters=3, action_low=torch.tensor([-1.0, -1, -1, 0]))
    planner.plan(bowl, 2)  # iCEM: also exercise the tail carried into the next plan

    def forbidden(*args, **kwargs):
        raise AssertionError("host synchronisation inside plan()")

    for method in ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__", "__index__"):
        monkeypatch.setattr(torch.Tensor, method, forbidden)
    planner.plan(bowl, 2, return_history=True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")
@pytest.mark.parametrize("name", PLANNER_CLASSES)
def test_no_cuda_sync_inside_plan(name):
    planner = PLANNER_CLASSES[name](horizon=5, action_dim=4, n_iters=3, device="cuda")
    planner.plan(bowl, 2)
    torch.cuda.set_sync_debug_mode("error")
    try:
        planner.plan(bowl, 2)
    finally:
        torch.cuda.set_sync_debug_mode(0)


# ------------------------------------------------------------------------------------------------ hooks


def test_cem_refit_is_elite_mean_and_std_with_momentum():
    elites = torch.randn(2, 8, 3, 4)
    mean, std = torch.randn(2, 3, 4), torch.rand(2, 3, 4)
    new_mean, new_std = CEM(3, 4, topk=8, num_samples=8).refit(elites, torch.zeros(2, 8), mean, std)
    torch.testing.assert_close(new_mean, elites.mean(dim=1))
    torch.testing.assert_close(new_std, elites.std(dim=1))
    new_mean, new_std = CEM(3, 4, topk=8, num_samples=8, momentum=0.25).refit(elites, torch.zeros(2, 8), mean, std)
    torch.testing.assert_close(new_mean, 0.25 * mean + 0.75 * elites.mean(dim=1))
    torch.testing.assert_close(new_std, 0.25 * std + 0.75 * elites.std(dim=1))


def test_mppi_refit_weights_by_softmax_of_cost_in_cost_units():
    elites = torch.randn(1, 3, 2, 2)
    costs = torch.tensor([[1.0, 1.5, 3.0]])  # ascending, as topk returns them
    mean, std = torch.zeros(1, 2, 2), torch.ones(1, 2, 2)
    absolute = dict(topk=3, num_samples=3, temperature_units="cost")
    new_mean, new_std = MPPI(2, 2, temperature=0.5, update_std=False, **absolute).refit(elites, costs, mean, std)
    w = torch.softmax(-costs / 0.5, dim=1)[0]
    torch.testing.assert_close(new_mean[0], (w[:, None, None] * elites[0]).sum(dim=0))
    assert torch.equal(new_std, std)  # update_std=False keeps the std (stable-worldmodel behaviour)
    # A tiny temperature puts all the weight on the best elite.
    sharp_mean, _ = MPPI(2, 2, temperature=1e-4, **absolute).refit(elites, costs, mean, std)
    torch.testing.assert_close(sharp_mean, elites[:, 0])
    _, new_std = MPPI(2, 2, temperature=0.5, **absolute).refit(elites, costs, mean, std)
    torch.testing.assert_close(new_std[0], (w[:, None, None] * (elites[0] - new_mean[0]).square()).sum(0).sqrt())


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3])
def test_mppi_default_temperature_is_relative_to_the_elite_cost_spread(scale):
    elites = torch.randn(1, 3, 2, 2)
    costs = torch.tensor([[1.0, 1.5, 3.0]]) * scale
    mean, std = torch.zeros(1, 2, 2), torch.ones(1, 2, 2)
    new_mean, _ = MPPI(2, 2, topk=3, num_samples=3).refit(elites, costs, mean, std)
    w = torch.softmax(-torch.tensor([0.0, 0.5, 2.0]) / 2.0, dim=0)  # gaps / (1.0 x spread 2), whatever the scale
    torch.testing.assert_close(new_mean[0], (w[:, None, None] * elites[0]).sum(dim=0))
    # Equal elites (zero spread) get equal weights, not NaN.
    flat_mean, flat_std = MPPI(2, 2, topk=3, num_samples=3).refit(elites, torch.ones(1, 3), mean, std)
    torch.testing.assert_close(flat_mean, elites.mean(dim=1))
    assert torch.isfinite(flat_std).all()


def test_mppi_keeps_std_fixed_only_when_asked():
    assert torch.equal(MPPI(horizon=5, action_dim=4, n_iters=3, init_std=0.7, update_std=False).plan(bowl, 2).std,
                       torch.full((2, 5, 4), 0.7))
    assert not torch.equal(MPPI(horizon=5, action_dim=4, n_iters=3, init_std=0.7).plan(bowl, 2).std,
                           torch.full((2, 5, 4), 0.7))


def test_icem_population_decays_to_twice_topk():
    recorder = Recorder(bowl)
    planner = ICEM(horizon=5, action_dim=4, num_samples=300, topk=30, n_iters=12, pop_decay=1.25)
    planner.plan(recorder, 1)
    sizes = [c.shape[1] for c, _ in recorder.calls[:-1]]
    assert sizes == [300, 240, 192, 153, 122, 98, 78, 62, 60, 60, 60, 60]
    assert sizes == [planner.population(i) for i in range(12)]


def test_icem_keeps_elites_within_a_plan_and_shifts_them_across_plans():
    planner = ICEM(horizon=5, action_dim=4, num_samples=50, topk=10, n_iters=3, keep_frac=0.3, seed=0)
    assert planner.n_keep == 3
    recorder = Recorder(bowl)
    planner.plan(recorder, 2)
    for (cand, costs), (next_cand, _) in zip(recorder.calls[:2], recorder.calls[1:3]):
        best = torch.take_along_dim(cand, costs.topk(3, dim=1, largest=False).indices[..., None, None], dim=1)
        assert torch.equal(next_cand[:, 1:4], best)
    last_cand, last_costs = recorder.calls[2]
    last_best = torch.take_along_dim(last_cand, last_costs.topk(3, dim=1, largest=False).indices[..., None, None],
                                     dim=1)

    recorder = Recorder(bowl)
    planner.plan(recorder, 2)
    first = recorder.calls[0][0]
    assert torch.equal(first[:, 1:4, :-1], last_best[:, :, 1:])  # shifted one block forward
    assert first[:, 1:4, -1].abs().max() > 0  # a random new last block

    planner.reset()
    recorder = Recorder(bowl)
    planner.plan(recorder, 2)
    assert not torch.equal(recorder.calls[0][0][:, 1:4, :-1], last_best[:, :, 1:])
    # A different batch size cannot reuse the tail: no error, plain start.
    planner.plan(bowl, 3)


def test_colored_noise_is_correlated_in_time_and_unit_std():
    white = ICEM(horizon=16, action_dim=2, noise_beta=0.0).sample_noise(4, 2000)
    colored = ICEM(horizon=16, action_dim=2, noise_beta=2.0).sample_noise(4, 2000)
    assert colored.shape == (4, 2000, 16, 2)
    torch.testing.assert_close(colored.std(dim=2), torch.ones(4, 2000, 2))

    def lag1(x):
        x = x.transpose(2, 3).reshape(-1, 16)
        return torch.corrcoef(torch.stack([x[:, :-1].flatten(), x[:, 1:].flatten()]))[0, 1]

    assert lag1(colored) > 0.5
    assert lag1(white).abs() < 0.05


# -------------------------------------------------------------------------------------------- validation


def test_wrong_cost_shape_raises_clear_error():
    planner = CEM(horizon=5, action_dim=4, num_samples=20, topk=5, n_iters=2)
    with pytest.raises(ValueError, match=r"shape \(B, N\) = \(2, 20\).*got tensor of shape \(2, 20, 5\)"):
        planner.plan(lambda c: c.sum(-1), batch_size=2)
    with pytest.raises(ValueError, match=r"got tensor of shape \(40,\)"):
        planner.plan(lambda c: c.sum(dim=(-1, -2)).flatten(), batch_size=2)
    with pytest.raises(ValueError, match="got ndarray"):
        planner.plan(lambda c: c.sum(dim=(-1, -2)).numpy(), batch_size=2)


@pytest.mark.parametrize("kwargs, message", [
    (dict(topk=400), r"topk must be in \[1, num_samples=300\], got 400"),
    (dict(horizon=0), "horizon must be >= 1"),
    (dict(action_dim=0), "action_dim must be >= 1"),
    (dict(n_iters=0), "n_iters must be >= 1"),
    (dict(init_std=0.0), "init_std must be > 0"),
    (dict(action_low=1.0, action_high=-1.0), "action_low must be <= action_high"),
    (dict(action_low=[-1.0, -1.0]), r"action_low must be a float or have shape \(action_dim,\) = \(10,\)"),
    (dict(dtype=torch.int64), "floating-point"),
    (dict(topk=1), "topk >= 2"),
    (dict(momentum=1.0), r"momentum must be in \[0, 1\)"),
])
def test_constructor_validation(kwargs, message):
    args = dict(horizon=5, action_dim=10) | kwargs
    with pytest.raises(ValueError, match=message):
        CEM(**args)


def test_planner_specific_validation_and_init_mean_shape():
    with pytest.raises(ValueError, match="temperature must be > 0"):
        MPPI(5, 10, temperature=0.0)
    with pytest.raises(ValueError, match="temperature_units must be one of"):
        MPPI(5, 10, temperature_units="kelvin")
    with pytest.raises(ValueError, match="pop_decay must be >= 1"):
        ICEM(5, 10, pop_decay=0.5)
    with pytest.raises(ValueError, match="noise beta must be >= 0"):
        ICEM(5, 10, noise_beta=-1.0)
    with pytest.raises(ValueError, match=r"init_mean must have shape \(B, H, A\) = \(2, 5, 10\), got \(5, 10\)"):
        CEM(5, 10, n_iters=1).plan(lambda c: c.sum(dim=(-1, -2)), 2, init_mean=torch.zeros(5, 10))


def test_device_auto_resolves():
    planner = CEM(5, 10, device="auto")
    assert planner.device.type == ("cuda" if torch.cuda.is_available() else "cpu")



# ------------------------------------------------------------------------------------------- warm start


def test_shift_plan_moves_tail_forward_and_pads():
    plan = torch.arange(2 * 4 * 3, dtype=torch.float32).reshape(2, 4, 3)
    out = shift_plan(plan, 1)
    assert torch.equal(out[:, :3], plan[:, 1:])
    assert torch.equal(out[:, 3], torch.zeros(2, 3))
    out = shift_plan(plan, 3, fill=torch.tensor([7.0, 8.0, 9.0]))
    assert torch.equal(out[:, 0], plan[:, 3])
    assert torch.equal(out[:, 1:], torch.tensor([7.0, 8.0, 9.0]).expand(2, 3, 3))
    per_problem = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert torch.equal(shift_plan(plan, 2, fill=per_problem)[:, 2:], per_problem[:, None].expand(2, 2, 3))
    assert torch.equal(shift_plan(plan, 0), plan) and shift_plan(plan, 0) is not plan
    assert torch.equal(shift_plan(plan, 9, fill=-1.0), torch.full_like(plan, -1.0))
    with pytest.raises(ValueError, match="steps must be >= 0"):
        shift_plan(plan, -1)
    with pytest.raises(ValueError, match=r"shape \(B, H, A\)"):
        shift_plan(plan[0], 1)


def test_substep_correlated_noise_has_unit_variance_and_the_asked_correlation():
    from planners import CEM

    planner = CEM(horizon=3, action_dim=10, num_samples=20000, n_iters=1, seed=0, substeps=5,
                  substep_correlation=0.8, action_low=None, action_high=None)
    noise = planner._correlate_substeps(planner.sample_noise(1, 20000))[0]  # (N, H, 10)
    steps = noise.reshape(20000, 3, 5, 2)
    assert abs(float(noise.var()) - 1.0) < 0.03
    corr = torch.corrcoef(torch.stack([steps[:, :, 0, 0].flatten(), steps[:, :, 3, 0].flatten()]))[0, 1]
    assert abs(float(corr) - 0.8) < 0.03  # same raw dim, different substeps
    other = torch.corrcoef(torch.stack([steps[:, :, 0, 0].flatten(), steps[:, :, 0, 1].flatten()]))[0, 1]
    assert abs(float(other)) < 0.03  # different raw dims stay independent


def test_substep_settings_are_checked():
    from planners import CEM

    with pytest.raises(ValueError, match="substeps"):
        CEM(horizon=3, action_dim=10, substeps=3, substep_correlation=0.5)
    with pytest.raises(ValueError, match="substep_correlation"):
        CEM(horizon=3, action_dim=10, substeps=5, substep_correlation=1.0)
