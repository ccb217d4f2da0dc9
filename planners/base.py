"""The sampling core shared by every planner: sample, clip, evaluate, select elites, refit.

A planner minimises a black-box cost over action sequences. It sees only ``cost_fn``, which maps a batch of
candidate plans ``(B, N, H, A)`` to costs ``(B, N)``: B independent problems (e.g. environments), N candidates each,
H action blocks of A numbers. All B problems are solved together, one cost call per iteration.

Subclasses differ only in the hooks: :meth:`SamplingPlanner.refit` (required) and, for iCEM,
:meth:`~SamplingPlanner.sample_noise`, :meth:`~SamplingPlanner.population`, :meth:`~SamplingPlanner.inject`
and the per-plan state hooks :meth:`~SamplingPlanner.begin_plan` / :meth:`~SamplingPlanner.end_plan`.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from planners.plan_result import PlanResult, resolve_device

CostFn = Callable[[torch.Tensor], torch.Tensor]
Bound = float | Sequence[float] | torch.Tensor | None


class SamplingPlanner:
    """Base class of the sampling-based planners (CEM, MPPI, iCEM).

    One iteration: draw ``N_i`` candidates ``mean + std * noise`` (candidate 0 is the mean itself), clip them to
    the action box, evaluate all ``B x N_i`` of them in one ``cost_fn`` call, take the ``topk`` lowest-cost ones
    (the elites) and let :meth:`refit` compute the next mean and std.

    Args:
        horizon: H, number of action blocks in a plan (>= 1).
        action_dim: A, numbers per action block (e.g. frameskip 5 x 2-D actions = 10).
        num_samples: N, candidates per problem and iteration (>= 1).
        n_iters: iterations per :meth:`plan` call (>= 1).
        topk: number of elites used by :meth:`refit`, ``1 <= topk <= num_samples``; ``None`` means all samples.
        init_std: standard deviation of the first iteration's sampling distribution (> 0).
        action_low: lower bound of the action box: a float, an ``(A,)`` sequence/tensor, or ``None`` (unbounded).
        action_high: upper bound, same forms as ``action_low``.
        seed: seed of the planner's ``torch.Generator``; planners built with the same seed return the same plans.
        device: ``"cpu"``, ``"cuda"``, ``"auto"`` (CUDA if available) or a ``torch.device``.
        dtype: floating dtype of the candidates handed to ``cost_fn`` (default float32).
        min_std: floor applied to the std after every refit (>= 0), which keeps exploration alive.
        eval_final: if True, evaluate the returned plan once more so that ``PlanResult.costs`` is its exact
            cost (one extra ``cost_fn`` call with N = 1). See :class:`PlanResult`.
        substeps: how many env steps one action vector holds (an action block of ``frameskip`` raw actions:
            ``A = substeps * raw_dim``); only used with ``substep_correlation``.
        substep_correlation: rho in [0, 1): correlation of the sampling noise across the substeps of a block.
            Noise = sqrt(rho) * (one raw-action draw repeated over the substeps) + sqrt(1 - rho) * (independent
            noise), so every entry keeps unit variance and two substeps correlate by rho. With 0 (the default)
            the substeps' noise is independent, and it averages out: a system driven by such candidates barely
            moves, and a goal that needs a large motion is never found. Correlated noise samples held actions,
            like the data policy's.
        proposal_guard: with ``proposals``, return the best proposal instead of the searched plan where the cost
            puts the proposal at least as low (one more ``cost_fn`` call, on the searched plan and the proposals):
            the search can then only add to a proposal policy, never undo it, as far as the cost can tell.

    Traits a subclass may set (read by the agent's factory, ``planners.registry``):
        needs_proposal: the planner executes a proposal policy's plan, so an agent must have one.
        shifts_between_plans: the planner carries state across :meth:`plan` calls that must be shifted by the
            blocks executed in between (its ``shift_steps`` argument).
    """

    needs_proposal: bool = False
    shifts_between_plans: bool = False

    def __init__(
        self,
        horizon: int,
        action_dim: int,
        num_samples: int = 300,
        n_iters: int = 30,
        topk: int | None = 30,
        init_std: float = 1.0,
        action_low: Bound = -1.0,
        action_high: Bound = 1.0,
        seed: int = 0,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        min_std: float = 0.0,
        eval_final: bool = True,
        substeps: int = 1,
        substep_correlation: float = 0.0,
        proposal_guard: bool = False,
    ) -> None:
        topk = num_samples if topk is None else topk
        _check(horizon >= 1, f"horizon must be >= 1, got {horizon}")
        _check(action_dim >= 1, f"action_dim must be >= 1, got {action_dim}")
        _check(num_samples >= 1, f"num_samples must be >= 1, got {num_samples}")
        _check(n_iters >= 1, f"n_iters must be >= 1, got {n_iters}")
        _check(1 <= topk <= num_samples, f"topk must be in [1, num_samples={num_samples}], got {topk}")
        _check(init_std > 0, f"init_std must be > 0, got {init_std}")
        _check(min_std >= 0, f"min_std must be >= 0, got {min_std}")
        _check(dtype.is_floating_point, f"dtype must be a floating-point dtype, got {dtype}")
        _check(substeps >= 1 and action_dim % substeps == 0,
               f"substeps must be >= 1 and divide action_dim={action_dim}, got {substeps}")
        _check(0.0 <= substep_correlation < 1.0, f"substep_correlation must be in [0, 1), got {substep_correlation}")
        self.substeps = substeps
        self.substep_correlation = substep_correlation
        self.horizon = horizon
        self.action_dim = action_dim
        self.num_samples = num_samples
        self.n_iters = n_iters
        self.topk = topk
        self.init_std = init_std
        self.min_std = min_std
        self.eval_final = eval_final
        self.proposal_guard = bool(proposal_guard)
        self.device = resolve_device(device)
        self.dtype = dtype
        # Costs are ranked in at least float32 so that a bf16 candidate dtype does not coarsen the ranking.
        self.cost_dtype = torch.promote_types(dtype, torch.float32)
        self.action_low = self._bound(action_low, "action_low")
        self.action_high = self._bound(action_high, "action_high")
        if self.action_low is not None and self.action_high is not None:
            _check(bool((self.action_low <= self.action_high).all()), "action_low must be <= action_high")
        # Clamping to Python floats is about twice as fast as to broadcast tensors; use them when possible
        # (torch.clamp takes two numbers or two tensors, not one of each).
        bounds = (self.action_low, self.action_high)
        uniform = all(b is None or bool((b == b[0]).all()) for b in bounds)
        self._clamp_args = tuple(None if b is None else float(b[0]) if uniform else b for b in bounds)
        self.seed = seed
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self._proposals: torch.Tensor | None = None  # (B, P, H, A) during a plan call with proposals

    # ----------------------------------------------------------------------------------------------- hooks

    def refit(
        self, elites: torch.Tensor, elite_costs: torch.Tensor, mean: torch.Tensor, std: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Compute the next sampling distribution from this iteration's elites.

        Args:
            elites: ``(B, K, H, A)`` the K lowest-cost candidates, sorted by increasing cost.
            elite_costs: ``(B, K)`` their costs, ascending.
            mean: ``(B, H, A)`` current mean.
            std: ``(B, H, A)`` current std.

        Returns:
            The new ``(mean, std)``, each ``(B, H, A)``.
        """
        raise NotImplementedError

    def population(self, iteration: int) -> int:
        """Number of candidates N_i drawn at ``iteration`` (0-based). Constant ``num_samples`` by default."""
        return self.num_samples

    def sample_noise(self, batch_size: int, n: int) -> torch.Tensor:
        """Standard-normal noise ``(B, n, H, A)`` from the planner's generator (white by default).

        Must return a new tensor: the core turns it into candidates in place.
        """
        shape = (batch_size, n, self.horizon, self.action_dim)
        return torch.randn(shape, generator=self.generator, device=self.device, dtype=self.dtype)

    def inject(self, candidates: torch.Tensor, iteration: int) -> torch.Tensor:
        """Overwrite some candidates ``(B, N_i, H, A)`` before clipping (iCEM's kept elites). No-op by default."""
        return candidates

    def begin_plan(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Called once at the start of :meth:`plan` with the initial ``(B, H, A)`` mean and std."""

    def end_plan(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Called once at the end of :meth:`plan` with the final ``(B, H, A)`` mean and std."""

    def reset(self, seed: int | None = None) -> None:
        """Forget state carried between :meth:`plan` calls; with ``seed``, also re-seed the generator."""
        if seed is not None:
            self.seed = seed
            self.generator.manual_seed(seed)

    # ------------------------------------------------------------------------------------------- planning

    def plan(
        self,
        cost_fn: CostFn,
        batch_size: int = 1,
        init_mean: torch.Tensor | None = None,
        return_history: bool = False,
        proposals: torch.Tensor | None = None,
    ) -> PlanResult:
        """Minimise ``cost_fn`` over plans ``(H, A)`` for ``batch_size`` independent problems at once.

        Args:
            cost_fn: maps candidates ``(B, N, H, A)`` (planner dtype and device) to costs ``(B, N)``; lower is
                better. N may change between iterations (iCEM's population decay) and is 1 in the final
                evaluation when ``eval_final`` is set.
            batch_size: B, number of independent problems.
            init_mean: ``(B, H, A)`` warm start for the mean (clipped to the box); ``None`` starts at zero
                (clipped into the box if zero lies outside it). See :func:`planners.shift_plan`.
            return_history: also return the per-iteration mean elite cost (``PlanResult.history``).
            proposals: ``(B, P, H, A)`` plans from elsewhere (e.g. a learned policy, see
                ``world_model.policies.proposal``), evaluated as candidates in every iteration (the last P slots,
                clipped to the box), so a good proposal becomes an elite; P must leave room for the mean and
                the sampled candidates (P < the smallest population).

        Returns:
            A :class:`PlanResult`. Its tensors are ordinary (not inference-mode) tensors.

        Raises:
            ValueError: if ``init_mean`` or the output of ``cost_fn`` does not have the expected shape.
        """
        _check(batch_size >= 1, f"batch_size must be >= 1, got {batch_size}")
        self._proposals = self._check_proposals(proposals, batch_size)
        try:
            with torch.inference_mode():
                result = self._plan(cost_fn, batch_size, init_mean, return_history)
        finally:
            self._proposals = None
        # Cloning outside inference mode gives the caller tensors it may modify in place or use with autograd.
        mean = result.mean.clone()
        history = None if result.history is None else result.history.clone()
        return PlanResult(mean, result.costs.clone(), mean, result.std.clone(), history)

    def _plan(self, cost_fn, batch_size, init_mean, return_history) -> PlanResult:
        mean = self._initial_mean(batch_size, init_mean)
        std = torch.full_like(mean, self.init_std)
        self.begin_plan(mean, std)
        history = []
        for iteration in range(self.n_iters):
            candidates = self._sample(mean, std, iteration)
            costs = self._evaluate(cost_fn, candidates)
            last_mean_cost = costs[:, 0]
            elite_costs, idx = torch.topk(costs, self.topk, dim=1, largest=False)
            elites = torch.take_along_dim(candidates, idx[:, :, None, None], dim=1)
            mean, std = self.refit(elites, elite_costs, mean, std)
            if self.min_std > 0:
                std = std.clamp_min(self.min_std)
            if return_history:
                history.append(elite_costs.mean(dim=1))
        mean = self._clip(mean)
        if self.proposal_guard and self._proposals is not None:
            mean, final_costs = self._guarded(cost_fn, mean)
        else:
            final_costs = self._evaluate(cost_fn, mean[:, None])[:, 0] if self.eval_final else last_mean_cost
        self.end_plan(mean, std)
        return PlanResult(mean, final_costs, mean, std, torch.stack(history) if return_history else None)

    def _guarded(self, cost_fn: CostFn, mean: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``proposal_guard``: per problem, the searched plan ``mean`` (B, H, A) or the best proposal, whichever
        costs less (a tie keeps the proposal), and its cost (B,)."""
        proposals = self._clip(self._proposals)
        costs = self._evaluate(cost_fn, torch.cat([mean[:, None], proposals], dim=1))  # (B, 1 + P)
        best_cost, best = costs[:, 1:].min(dim=1)
        use = best_cost <= costs[:, 0]
        chosen = torch.where(use[:, None, None], proposals[torch.arange(len(best)), best], mean)
        return chosen, torch.where(use, best_cost, costs[:, 0])

    def _sample(self, mean: torch.Tensor, std: torch.Tensor, iteration: int) -> torch.Tensor:
        """Candidates ``(B, N_i, H, A)``: ``mean + std * noise``, injected ones, candidate 0 = mean, clipped."""
        # In place on the fresh noise tensor: one allocation per iteration, fewer passes over memory.
        noise = self.sample_noise(mean.shape[0], self.population(iteration))
        if self.substep_correlation > 0 and self.substeps > 1:
            noise = self._correlate_substeps(noise)
        candidates = self.inject(noise.mul_(std[:, None]).add_(mean[:, None]), iteration)
        if self._proposals is not None:
            candidates[:, -self._proposals.shape[1]:] = self._proposals
        candidates[:, 0] = mean
        if self.action_low is None and self.action_high is None:
            return candidates
        return candidates.clamp_(*self._clamp_args)

    def _correlate_substeps(self, noise: torch.Tensor) -> torch.Tensor:
        """(B, n, H, A) unit noise -> the same with correlation ``substep_correlation`` across substeps."""
        rho = self.substep_correlation
        b, n, h, a = noise.shape
        raw = a // self.substeps
        shared = self.sample_noise(b, n)[..., :raw].repeat(1, 1, 1, self.substeps)  # same draw source (iCEM: coloured)
        return noise.mul_((1.0 - rho) ** 0.5).add_(shared, alpha=rho ** 0.5)

    def _evaluate(self, cost_fn: CostFn, candidates: torch.Tensor) -> torch.Tensor:
        """Call ``cost_fn`` and check its output: ``(B, N)`` costs as ``cost_dtype``, NaN mapped to +inf."""
        costs = cost_fn(candidates)
        expected = tuple(candidates.shape[:2])
        if not isinstance(costs, torch.Tensor) or tuple(costs.shape) != expected:
            got = f"tensor of shape {tuple(costs.shape)}" if isinstance(costs, torch.Tensor) else type(costs).__name__
            raise ValueError(
                f"cost_fn must return a tensor of shape (B, N) = {expected} for candidates of shape "
                f"(B, N, H, A) = {tuple(candidates.shape)}; got {got}"
            )
        costs = costs.to(device=self.device, dtype=self.cost_dtype)
        # A NaN cost (e.g. a diverged rollout) must never be chosen as an elite.
        return costs.masked_fill(costs.isnan(), float("inf"))

    def _check_proposals(self, proposals: torch.Tensor | None, batch_size: int) -> torch.Tensor | None:
        if proposals is None:
            return None
        proposals = torch.as_tensor(proposals)
        if proposals.ndim != 4 or tuple(proposals.shape[::2]) != (batch_size, self.horizon) \
                or proposals.shape[3] != self.action_dim:
            raise ValueError(f"proposals must have shape (B, P, H, A) = ({batch_size}, P, {self.horizon}, "
                             f"{self.action_dim}), got {tuple(proposals.shape)}")
        smallest = min(self.population(i) for i in range(self.n_iters))
        if not 1 <= proposals.shape[1] < smallest:
            raise ValueError(f"{proposals.shape[1]} proposals do not fit in a population of {smallest} candidates "
                             f"(the mean takes one slot): pass at most {smallest - 1}")
        return proposals.to(device=self.device, dtype=self.dtype)

    def _initial_mean(self, batch_size: int, init_mean: torch.Tensor | None) -> torch.Tensor:
        shape = (batch_size, self.horizon, self.action_dim)
        if init_mean is None:
            return self._clip(torch.zeros(shape, device=self.device, dtype=self.dtype))
        init_mean = torch.as_tensor(init_mean)
        if tuple(init_mean.shape) != shape:
            raise ValueError(f"init_mean must have shape (B, H, A) = {shape}, got {tuple(init_mean.shape)}")
        return self._clip(init_mean.to(device=self.device, dtype=self.dtype))

    def _clip(self, actions: torch.Tensor) -> torch.Tensor:
        """Clamp ``(..., A)`` actions to the box (a no-op for an unbounded side)."""
        if self.action_low is None and self.action_high is None:
            return actions
        return torch.clamp(actions, *self._clamp_args)

    def _bound(self, value: Bound, name: str) -> torch.Tensor | None:
        if value is None:
            return None
        bound = torch.as_tensor(value, dtype=self.dtype).to(self.device)
        _check(bound.ndim == 0 or tuple(bound.shape) == (self.action_dim,),
               f"{name} must be a float or have shape (action_dim,) = ({self.action_dim},), got {tuple(bound.shape)}")
        return bound.expand(self.action_dim).clone()

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(horizon={self.horizon}, action_dim={self.action_dim}, "
                f"num_samples={self.num_samples}, n_iters={self.n_iters}, topk={self.topk}, "
                f"init_std={self.init_std}, device={str(self.device)!r})")


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)
