"""How a planning rollout on the CPU uses the machine's cores.

A rollout's candidates are independent rows, and at planning sizes (tens to thousands of candidates, a window of
at most ``history_size`` tokens, widths of 192-2048) each of its several hundred ops is small. torch's intra-op
threads split every one of those ops and meet after each, which pays little (and with ``OMP_WAIT_POLICY=PASSIVE``,
which the agent sets so that idle threads never starve rendering or other jobs, waking them costs more than it
saves on small ops). Splitting the *rows* instead, between worker threads that each run the whole rollout on
their share with one torch thread, keeps every core busy for the whole call: torch releases the GIL inside each
op, and the rows never meet until the end.

Measured on a 2-core Zen 4 with AVX512-BF16 (``experiments/bench/bench_row_split.py``; ``experiments/
realtime.md``), 300 candidates x 5 steps from one history frame: shipped reacher predictor bf16 96.6 ms on two
intra-op threads against 65.3 ms split over two workers (1.48x), paper-size predictor 375.7 -> 269.7 ms (1.39x);
fp32 1.2-1.23x. Results are the same rows computed the same way, so they equal the unsplit rollout.

Three regimes, chosen per call from the number of rows and torch's thread count T (CPU only):

- ``split_workers(rows) >= 2``: rows split between that many workers (one torch thread each);
- else at most ``SINGLE_THREAD_ROWS`` rows: the caller's thread alone, on one torch thread;
- else torch's own intra-op threads.
"""
from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence

import torch

# At most this many candidates, a rollout that is not split runs on one thread: its products are too small to
# split, and waking a second OpenMP thread for each of several hundred small kernels cost more than it saved.
# Measured on a 2-core Zen 4, 64 candidates, 5 steps: bf16 44 ms on one thread against 67-71 ms on two.
SINGLE_THREAD_ROWS = 128
# Fewest rows a worker gets, by precision: below it the ops are so small that handing the GIL back and forth
# between ops costs what the second core saves. Measured (2-core Zen 4, 5 steps, one and three history frames):
# fp32 split pays from 64 candidates (48.5 -> 35.9 ms against one thread), bf16 from 128 (53.1 -> 44.1 ms; at 64
# it was 33.5 against 35.9 with one history frame, 41.2 against 38.0 with three).
MIN_ROWS_PER_WORKER = {torch.float32: 32, torch.bfloat16: 64}
MAX_WORKERS = 8

_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def split_workers(rows: int, device_type: str, dtype: torch.dtype = torch.float32) -> int:
    """How many worker threads a rollout of ``rows`` candidates in ``dtype`` is split over (1: not split). CPU
    only; bounded by torch's thread count, ``MAX_WORKERS`` and ``MIN_ROWS_PER_WORKER`` rows each."""
    if device_type != "cpu":
        return 1
    per_worker = MIN_ROWS_PER_WORKER.get(dtype, MIN_ROWS_PER_WORKER[torch.float32])
    return max(1, min(torch.get_num_threads(), MAX_WORKERS, rows // per_worker))


@contextlib.contextmanager
def planning_threads(rows: int, device_type: str, workers: int = 1):
    """Runs the body on one CPU thread when ``rows`` (candidates in the rollout) <= ``SINGLE_THREAD_ROWS`` or when
    they are split over ``workers`` >= 2 (the caller then only computes what the rows share); restores the thread
    count after. No-op on other devices or when torch already uses one thread."""
    threads = torch.get_num_threads()
    if device_type != "cpu" or (rows > SINGLE_THREAD_ROWS and workers < 2) or threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def row_spans(rows: int, chunk: int | None, workers: int) -> list[tuple[int, int]]:
    """[lo, hi) spans covering ``rows``: ``workers`` near-equal shares, each cut further to at most ``chunk`` rows."""
    share = -(-rows // max(1, workers))
    size = min(share, chunk) if chunk else share
    return [(lo, min(rows, lo + size)) for lo in range(0, rows, size)]


def map_spans(fn: Callable[[int, int], torch.Tensor], spans: Sequence[tuple[int, int]], workers: int) -> list:
    """``[fn(lo, hi) for lo, hi in spans]``, run on ``workers`` threads of one torch thread each when workers >= 2.
    An exception in any span is raised here."""
    if workers < 2 or len(spans) < 2:
        return [fn(lo, hi) for lo, hi in spans]
    # Grad and inference mode are thread-local: the workers take the caller's.
    inference, grad = torch.is_inference_mode_enabled(), torch.is_grad_enabled()

    def run(span):
        with torch.inference_mode(inference), torch.set_grad_enabled(grad):
            return fn(*span)

    return list(_pool(workers).map(run, spans))


def _pool(workers: int) -> ThreadPoolExecutor:
    """The process's pool of ``workers`` threads, each set to one torch thread, made once."""
    with _pools_lock:
        pool = _pools.get(workers)
        if pool is None:
            threads = torch.get_num_threads()
            started = threading.Barrier(workers + 1)

            def one_thread():
                # torch sets a thread's OpenMP count from the process default at its first use of torch: let that
                # happen first, or it would overwrite the one thread later. Then one thread (this thread's
                # OpenMP setting; torch's process default, set along with it, is given back below).
                torch.get_num_threads()
                torch.set_num_threads(1)
                started.wait()

            pool = ThreadPoolExecutor(workers, thread_name_prefix="lewm-rollout")
            for _ in range(workers):  # start every worker now, each blocked until all are: one per task
                pool.submit(one_thread)
            started.wait()
            # torch.set_num_threads also sets the default that threads made later start with: give it back.
            torch.set_num_threads(threads)
            _pools[workers] = pool
    return pool


def _forget_pools_in_child() -> None:
    """A forked child has none of the parent's threads: it makes its own pools when it needs them."""
    global _pools_lock
    _pools.clear()
    _pools_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_pools_in_child)
