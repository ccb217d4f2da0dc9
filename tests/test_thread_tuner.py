"""The agent's thread count by measurement: explored on warm replans, the fastest kept, explored again when the
latency drifts (tested with a competing process), and through the agent and lewm-plan."""

import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from agent.thread_tuner import ThreadTuner, parse_threads, thread_candidates


class FakeTorch:
    def __init__(self):
        self.threads = 2

    def set(self, n):
        self.threads = n

    def get(self):
        return self.threads


def test_candidates():
    assert thread_candidates(1) == (1,) and thread_candidates(2) == (1, 2) and thread_candidates(6) == (1, 2, 4, 6)


def test_explores_each_count_keeps_the_fastest_and_explores_again_on_drift():
    fake = FakeTorch()
    tuner = ThreadTuner(candidates=(1, 2), trials=2, drift=1.5, window=3, set_threads=fake.set, get_threads=fake.get)
    latency = {1: 0.181, 2: 0.397}  # a shared 2-core machine: one thread wins
    for _ in range(4):
        tuner.after_plan(latency[tuner.before_plan()])
    assert tuner.chosen == 1 and fake.threads == 1 and tuner.reference == pytest.approx(0.181)
    for _ in range(3):  # steady: no new exploration
        tuner.after_plan(latency[tuner.before_plan()])
    assert len(tuner.history) == 1
    latency = {1: 0.5, 2: 0.15}  # the other job stopped, this one's single thread got slower
    for _ in range(3 + 4):
        tuner.after_plan(latency[tuner.before_plan()])
    assert len(tuner.history) == 2 and tuner.chosen == 2 and fake.threads == 2
    assert tuner.history[1]["reason"].startswith("latency drift: median 500 ms")
    assert "threads: 2 by measurement (1: 500 ms, 2: 150 ms; chosen 2 times" in tuner.summary()


def test_parse_threads():
    from common.cli_errors import UserInputError

    assert parse_threads("auto") == "auto" and parse_threads("3") == 3 and parse_threads(None) is None
    with pytest.raises(UserInputError, match="--threads must be auto or a thread count"):
        parse_threads("0")


def _workload():
    """A plan-sized CPU job: many small ops on a few threads (about 10-30 ms)."""
    x = torch.randn(64, 192)
    w = torch.randn(192, 192)
    for _ in range(150):
        x = torch.tanh(x @ w) * 0.5
    return x


@pytest.mark.slow
def test_a_competing_process_makes_it_measure_again():
    threads = torch.get_num_threads()
    tuner = ThreadTuner(trials=2, drift=1.3, window=4)
    try:
        def plan():
            tuner.before_plan()
            t = time.perf_counter()
            _workload()
            tuner.after_plan(time.perf_counter() - t)

        while not tuner.history:
            plan()
        for _ in range(4):
            plan()
        quiet = len(tuner.history)
        burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(4 * len(
            tuner.candidates))]
        try:
            time.sleep(0.3)
            for _ in range(40):
                plan()
                if len(tuner.history) > quiet:
                    break
        finally:
            for p in burners:
                p.kill()
                p.wait()
        assert len(tuner.history) > quiet, tuner.history
        assert tuner.history[-1]["reason"].startswith("latency drift")
    finally:
        torch.set_num_threads(threads)


def test_the_agent_tunes_on_its_warm_replans():
    from test_agent import frame, small_agent

    threads = torch.get_num_threads()
    try:
        agent = small_agent()
        agent.thread_tuner = ThreadTuner(candidates=(1, 2), trials=1)
        agent.set_goal(frame(0))
        for i in range(6 * agent.replan_steps):
            agent.act(frame(i + 1))
        assert agent.thread_tuner.history and torch.get_num_threads() == agent.thread_tuner.chosen
        assert set(agent.thread_tuner.history[0]["medians"]) == {1, 2}
        assert np.all(np.isfinite(list(agent.thread_tuner.history[0]["medians"].values())))
    finally:
        torch.set_num_threads(threads)
