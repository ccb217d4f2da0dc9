"""lewm-plan's closing latency report: warm replans against the robot time of an action block."""

import pytest

from agent.cli_plan import latency_line


@pytest.mark.parametrize("seconds, block, expected, absent", [
    ([], 0.2, ["planning: no replan"], ["real time"]),
    ([0.5, 0.1, 0.1, 0.2], 0.2, ["first plan 0.50 s", "median 100 ms", "4 replans", "last 200 ms",
                                 "2.0x faster than real time"], []),
    ([1.0, 0.4], 0.2, ["median 400 ms", "2.0x slower than real time"], []),
    ([0.3], 0.2, ["first plan 0.30 s", "median 300 ms", "1 replan)"], []),  # one plan: it is its own median
    ([0.5, 0.1], None, ["median 100 ms"], ["real time"]),  # an env that does not say how long a step lasts
])
def test_latency_line(seconds, block, expected, absent):
    line = latency_line(seconds, block)
    for text in expected:
        assert text in line, line
    for text in absent:
        assert text not in line, line
