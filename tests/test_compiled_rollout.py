"""``compile_rollout``: the torch.compile'd planning rollout predicts as the eager one, and a compiler failure
falls back to eager with a warning instead of failing the plan."""
import warnings

import pytest
import torch

from test_fast_rollout import reference, trained_like
from world_model.rollout import compiled_rollout
def _inputs(th=2, n=6, horizon=2):
    """A short rollout (one history action, two steps, the window never slides): every code path of the rollout
    but the sliding window, with few kernels to compile (the compile is most of this file's time)."""
    g = torch.Generator().manual_seed(2)
    return (torch.randn(1, th, 32, generator=g), torch.randn(1, th - 1, 10, generator=g),
            torch.randn(1, n, horizon, 10, generator=g))


@pytest.mark.slow
def test_compiled_rollout_equals_the_eager_rollout():
    m = trained_like(depth=1)
    m.compile_rollout = True
    z, a, plan = _inputs()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a fallback to eager would not test the compiled path
        out = m.rollout(z, a, plan)
    fast = m._fast_rollout(torch.float32)
    assert fast._compiled is not None and fast._compiled.failed is None and fast._compiled._fn is not None
    torch.testing.assert_close(out, reference(m, z, a, plan), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_a_split_compiled_rollout_compiles_on_the_callers_thread_then_runs_on_the_workers(monkeypatch):
    import world_model.rollout.fast_rollout as fr
    from common import cpu_threads
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    seen = []
    real = fr.map_spans
    monkeypatch.setattr(fr, "map_spans", lambda fn, spans, workers: seen.append(workers) or real(fn, spans, workers))
    try:
        m = trained_like(depth=1)
        m.compile_rollout = True
        z, a, plan = _inputs(n=2 * cpu_threads.MIN_ROWS_PER_WORKER[torch.float32])
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            first, second = m.rollout(z, a, plan), m.rollout(z, a, plan)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert seen == [1, 2]  # new shapes compile on the caller's thread; the same shapes then run split
    fast = m._fast_rollout(torch.float32)
    assert fast._compiled.failed is None and fast._compiled._rows is not None and fast._compiled._fn is None
    expected = reference(m, z, a, plan)
    torch.testing.assert_close(first, expected, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(second, expected, rtol=1e-4, atol=1e-5)


def test_a_failing_compiler_falls_back_to_eager_with_one_warning(monkeypatch):
    def broken_compile(fn, **kwargs):
        def run(*args):
            raise RuntimeError("InductorError: no working C++ compiler found\nmore detail")
        return run

    monkeypatch.setattr(compiled_rollout.torch, "compile", broken_compile)
    m = trained_like()
    m.compile_rollout = True
    z, a, plan = _inputs()
    with torch.no_grad():
        with pytest.warns(RuntimeWarning, match="no working C\\+\\+ compiler found.*goes on uncompiled"):
            first = m.rollout(z, a, plan)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            second = m.rollout(z, a, plan)  # no second warning, no second try
    expected = reference(m, z, a, plan)
    torch.testing.assert_close(first, expected, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(second, expected, rtol=1e-4, atol=1e-5)


def test_the_agent_option_reaches_the_model():
    from agent.agent import Agent
    from planners import MPPI

    m = trained_like()
    low, high = Agent.planner_box(m)
    agent = Agent(m, MPPI(action_dim=10, horizon=2, num_samples=8, n_iters=1, topk=2, action_low=low, action_high=high),
                  compile_rollout=True)
    assert agent.world_model.compile_rollout
