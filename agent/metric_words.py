"""A task's extra measures (``env.report_metrics``, ``envs.task.Task``) in words and units, for the summary lines
a user reads.

    describe("closest_reach", 0.002)      -> "the gripper came within 0.2 cm of the cube"
    describe("coverage_success", 0.0)     -> "coverage test (block over 95 % of the goal T): not passed"
    describe("coverage_success", 0.12, mean=True) -> "coverage test ...: passed in 12 % of episodes"

``mean=True``: the value is an average over episodes (``lewm-eval``'s table), so a pass/fail measure is a share.
A name without words here is shown as ``name value``.
"""

from __future__ import annotations

import math


def _cm(v: float) -> str:
    return f"{100 * v:.1f} cm"


def _passed(v: float, mean: bool) -> str:
    if mean:
        return f"passed in {100 * v:.0f} % of episodes"
    return "passed" if v >= 0.5 else "not passed"


WORDS = {
    # the cube (lewm/Cube-v0): metres
    "closest_reach": lambda v, mean: f"the gripper came within {_cm(v)} of the cube" + (" (mean)" if mean else ""),
    "highest_lift": lambda v, mean: f"the cube was lifted {_cm(v)} at most" + (" (mean)" if mean else ""),
    # Push-T (lewm/PushT-v0): px and rad; coverage is a fraction of the goal T's area
    "coverage": lambda v, mean: f"the block covers {100 * v:.0f} % of the goal T" + (" (mean)" if mean else ""),
    "max_coverage": lambda v, mean: f"at best it covered {100 * v:.0f} %" + (" (mean)" if mean else ""),
    "coverage_success": lambda v, mean: f"coverage test (block over 95 % of the goal T): {_passed(v, mean)}",
    "pusher_distance": lambda v, mean: f"pusher {v:.1f} px from its goal" + (" (mean)" if mean else ""),
    "block_distance": lambda v, mean: f"block {v:.1f} px from its goal" + (" (mean)" if mean else ""),
    "angle_error": lambda v, mean: f"block turned {math.degrees(v):.0f}° from its goal" + (" (mean)" if mean else ""),
}


def describe(name: str, value: float, mean: bool = False) -> str:
    """One measure in words with its unit (see the module docstring)."""
    words = WORDS.get(name)
    return words(float(value), mean) if words else f"{name} {float(value):.3f}"


# Groups of episodes a task tags (a bool in its report_metrics), as a report names them.
GROUP_WORDS = {"cross_room": "other-room goals"}  # tworoom: the goal in the other room than the start


def group_words(name: str) -> str:
    """A tagged group of episodes in words (``cross_room`` -> ``other-room goals``); the name itself otherwise."""
    return GROUP_WORDS.get(name, name)
