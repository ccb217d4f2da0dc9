"""The agent's CPU thread count, chosen by measuring its own replans, and chosen again when their latency drifts.

torch's default (one thread per core) is not the fastest count for a planner's many small ops, least of all on a
shared machine: with one other job on a 2-core EPYC the shipped reacher agent took 397 ms per replan on torch's
default 2 threads against 181 ms on 1 (idle: 149 ms). What is fastest depends on the machine and on what else
runs on it, so it is measured, on the agent's own warm replans:

1. explore: each candidate count (1, 2, 4, ... up to the usable cores) plans ``trials`` warm replans;
2. keep the count with the lowest median latency; its median is the reference;
3. while exploiting, a median over the last ``window`` replans above ``drift`` x the reference (another job
   started, or stopped) starts the exploration again.

The count is ``torch.set_num_threads`` for the whole process (embedding, proposal and planner). Cold replans (an
episode's first, with more iterations) are not measured. Thread counts change the order of floating-point sums,
so outcomes measured this way are not bit-reproducible across runs: ``lewm-plan`` tunes by default (a robot's
latency matters most), ``lewm-eval`` only with ``--threads auto``.
"""

from __future__ import annotations

import os
from collections import deque

import numpy as np
import torch


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS
        return max(1, os.cpu_count() or 1)


def thread_candidates(cores: int | None = None) -> tuple[int, ...]:
    """1, 2, 4, ... below ``cores``, and ``cores`` itself: (1, 2) on 2 cores, (1, 2, 4, 6) on 6."""
    cores = usable_cores() if cores is None else max(1, int(cores))
    counts = {cores}
    n = 1
    while n < cores:
        counts.add(n)
        n *= 2
    return tuple(sorted(counts))


class ThreadTuner:
    """Chooses torch's thread count from measured replan latencies (see the module docstring).

    Use: before each warm replan ``tuner.before_plan()`` (sets the count to try or keep), after it
    ``tuner.after_plan(seconds)``.

    Args:
        candidates: thread counts to try (default :func:`thread_candidates`).
        trials: warm replans measured per candidate.
        drift: a median latency this many times the reference starts a new exploration.
        window: replans in the drift median.
        set_threads, get_threads: torch's (tests pass their own).
    """

    def __init__(self, candidates=None, trials: int = 2, drift: float = 1.5, window: int = 6,
                 set_threads=torch.set_num_threads, get_threads=torch.get_num_threads):
        self.candidates = tuple(candidates or thread_candidates())
        self.trials, self.drift, self.window = max(1, int(trials)), float(drift), max(2, int(window))
        self._set, self._get = set_threads, get_threads
        self.initial = int(get_threads())
        self.chosen: int | None = None
        self.reference: float | None = None  # the chosen count's median latency when it was chosen, s
        self.history: list[dict] = []  # every choice: {"threads", "medians" {count: s}, "reason"}
        self._reason = "start-up"
        self._start_exploring()

    def _start_exploring(self) -> None:
        self._samples = {n: [] for n in self.candidates}
        self._recent: deque = deque(maxlen=self.window)
        self._trying: int | None = None

    @property
    def exploring(self) -> bool:
        return self._trying is not None or any(len(v) < self.trials for v in self._samples.values())

    def before_plan(self) -> int:
        """Sets (and returns) the thread count the next warm replan runs with."""
        pending = [n for n in self.candidates if len(self._samples[n]) < self.trials]
        threads = pending[0] if pending else self.chosen
        self._trying = pending[0] if pending else None
        if self._get() != threads:
            self._set(threads)
        return threads

    def after_plan(self, seconds: float) -> None:
        """The latency of the replan run since :meth:`before_plan`, s."""
        if self._trying is not None:
            self._samples[self._trying].append(float(seconds))
            self._trying = None
            if all(len(v) >= self.trials for v in self._samples.values()):
                self._choose()
            return
        self._recent.append(float(seconds))
        if len(self._recent) == self.window and np.median(self._recent) > self.drift * self.reference:
            self._reason = (f"latency drift: median {1e3 * np.median(self._recent):.0f} ms over the last "
                            f"{self.window} replans against {1e3 * self.reference:.0f} ms when chosen")
            self._start_exploring()

    def _choose(self) -> None:
        medians = {n: float(np.median(v)) for n, v in self._samples.items()}
        self.chosen = min(medians, key=medians.get)
        self.reference = medians[self.chosen]
        self._set(self.chosen)
        self.history.append({"threads": self.chosen, "medians": medians, "reason": self._reason})

    def summary(self) -> str:
        """``threads: 1 by measurement (1: 181 ms, 2: 397 ms; chosen 2 times: start-up, latency drift ...)``."""
        if not self.history:
            return f"threads: {self._get()} (too few warm replans to measure)"
        last = self.history[-1]
        measured = ", ".join(f"{n}: {1e3 * s:.0f} ms" for n, s in sorted(last["medians"].items()))
        text = f"threads: {last['threads']} by measurement ({measured}"
        if len(self.history) > 1:
            text += f"; chosen {len(self.history)} times, last after a {last['reason'].split(':')[0]}"
        return text + ")"


def parse_threads(text: str | None) -> str | int | None:
    """``--threads``: ``auto`` (by measurement), a count >= 1, or None (torch's default); else a one-line error."""
    from common.cli_errors import UserInputError

    if text is None or text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise UserInputError(f"--threads must be auto or a thread count of at least 1, got {text!r}")
    return value


def apply_threads(agent, choice: str | int | None) -> None:
    """``auto``: the agent tunes its thread count (CPU only); a count: ``torch.set_num_threads``; None: as it is."""
    if choice == "auto":
        if agent.device.type == "cpu":
            agent.thread_tuner = ThreadTuner()
    elif choice is not None:
        torch.set_num_threads(int(choice))
