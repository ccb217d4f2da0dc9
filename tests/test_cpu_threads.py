"""Planning rollouts split over CPU worker threads: the same predictions, workers on one torch thread each, the
caller's thread settings untouched, errors and inference mode carried across."""
import multiprocessing
import threading

import pytest
import torch

from test_fast_rollout import trained_like
from common import cpu_threads
from common.cpu_threads import map_spans, row_spans, split_workers


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("rows,chunk,workers,spans", [
    (10, None, 1, [(0, 10)]),
    (10, None, 2, [(0, 5), (5, 10)]),
    (11, None, 2, [(0, 6), (6, 11)]),
    (10, 4, 1, [(0, 4), (4, 8), (8, 10)]),
    (10, 4, 2, [(0, 4), (4, 8), (8, 10)]),
    (10, 8, 2, [(0, 5), (5, 10)]),
    (3, None, 8, [(0, 1), (1, 2), (2, 3)]),
])
def test_row_spans_cover_the_rows_in_shares_and_chunks(rows, chunk, workers, spans):
    assert row_spans(rows, chunk, workers) == spans


def test_split_workers_by_device_threads_and_rows(two_threads):
    for dtype, per in cpu_threads.MIN_ROWS_PER_WORKER.items():
        assert split_workers(2 * per, "cpu", dtype) == 2
        assert split_workers(2 * per - 1, "cpu", dtype) == 1  # too few rows for two workers
        assert split_workers(100 * per, "cpu", dtype) == 2  # never more workers than torch threads
        assert split_workers(100 * per, "cuda", dtype) == 1
    assert cpu_threads.MIN_ROWS_PER_WORKER[torch.bfloat16] > cpu_threads.MIN_ROWS_PER_WORKER[torch.float32]
    torch.set_num_threads(1)
    assert split_workers(10_000, "cpu") == 1


@pytest.mark.parametrize("th,chunk", [(1, None), (3, None), (2, 7)])
def test_split_rollout_equals_the_unsplit_one(th, chunk):
    m = trained_like()
    fast = m._fast_rollout(torch.float32)
    with torch.inference_mode():
        z, plan = torch.randn(2, th, 32), m.action_encoder(torch.randn(2 * 21, 5, 10)).reshape(2, 21, 5, -1)
        c_hist = m.action_encoder(torch.randn(2, th - 1, 10)) if th > 1 else None
        whole = fast.rollout(z, c_hist, plan, None, 1)
        split = fast.rollout(z, c_hist, plan, chunk, 2)
    torch.testing.assert_close(split, whole, rtol=1e-5, atol=1e-6)  # other row counts: other GEMM blocking


def test_lewm_rollout_splits_large_cpu_rollouts_and_keeps_small_ones_whole(two_threads, monkeypatch):
    import world_model.rollout.fast_rollout as fr

    seen = []
    real = fr.map_spans
    monkeypatch.setattr(fr, "map_spans", lambda fn, spans, workers: seen.append(workers) or real(fn, spans, workers))
    m = trained_like()
    rows = 2 * cpu_threads.MIN_ROWS_PER_WORKER[torch.float32]
    z, plan = torch.randn(1, 3, 32), torch.randn(1, rows, 5, 10)
    with torch.no_grad():
        split = m.rollout(z, torch.randn(1, 2, 10), plan)
        small = m.rollout(z, None, plan[:, :4])
    assert seen == [2, 1]
    assert torch.get_num_threads() == 2
    assert split.shape == (1, rows, 5, 32) and small.shape == (1, 4, 5, 32)


def test_workers_run_together_on_one_torch_thread_each_and_leave_the_callers_count(two_threads):
    meet = threading.Barrier(2, timeout=20)  # each span waits for the other: they must run at the same time

    def span(lo, hi):
        meet.wait()
        return torch.get_num_threads(), threading.current_thread().name

    seen = map_spans(span, [(0, 1), (1, 2)], 2)
    assert [n for n, _ in seen] == [1, 1]
    assert len({name for _, name in seen}) == 2 and all(name.startswith("lewm-rollout") for _, name in seen)
    assert torch.get_num_threads() == 2
    later = []  # a thread made after the pool starts with the process's default, not the workers' one thread
    t = threading.Thread(target=lambda: later.append(torch.get_num_threads()))
    t.start()
    t.join()
    assert later == [2]


def test_workers_take_the_callers_grad_and_inference_modes_and_raise_its_errors():
    spans = [(0, 1), (1, 2)]
    with torch.inference_mode():
        assert map_spans(lambda lo, hi: torch.is_inference_mode_enabled(), spans, 2) == [True, True]
    assert map_spans(lambda lo, hi: torch.is_inference_mode_enabled(), spans, 2) == [False, False]
    with torch.no_grad():
        assert map_spans(lambda lo, hi: torch.is_grad_enabled(), spans, 2) == [False, False]
    assert map_spans(lambda lo, hi: torch.is_grad_enabled(), spans, 2) == [True, True]

    def fail(lo, hi):
        if lo == 1:
            raise ValueError("span 1")
        return lo

    with pytest.raises(ValueError, match="span 1"):
        map_spans(fail, spans, 2)


def _split_in_child(queue):
    queue.put(map_spans(lambda lo, hi: hi - lo, [(0, 3), (3, 5)], 2))


def test_a_forked_child_makes_its_own_workers():
    map_spans(lambda lo, hi: lo, [(0, 1), (1, 2)], 2)  # the parent's pool exists before the fork
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_split_in_child, args=(queue,))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0
    assert queue.get(timeout=5) == [3, 2]
