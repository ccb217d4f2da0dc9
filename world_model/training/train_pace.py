"""How fast a training run goes, measured, and how long it will take: one line after its first steps.

    pace = TrainPace(start=0, total=3000, checkpoint_every=250)
    for step ...:
        ...one optimisation step...
        line = pace.step_done(step + 1)   # None, except once: after ``measure_steps`` timed steps
        if line: log.info(line)

The first step is not timed (it allocates buffers and warms caches, often several times a later step); the
estimate is the median seconds per step over the next ``measure_steps`` (default 5) steps times the steps left.
"""
from __future__ import annotations

import time

import numpy as np


def format_duration(seconds: float) -> str:
    """``42 s``, ``13 min``, ``2 h 05 min``."""
    seconds = max(0.0, float(seconds))
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    if minutes < 90:
        return f"{minutes:.0f} min"
    hours, minutes = divmod(int(round(minutes)), 60)
    return f"{hours} h {minutes:02d} min"


class TrainPace:
    """Times optimisation steps; reports the measured seconds per step and the run's estimated remaining time.

    Args:
        start: the step the run (or resume) starts from.
        total: the run's last step.
        checkpoint_every: steps between checkpoints (the line says how long that is, and how to save sooner).
        measure_steps: timed steps before the estimate (after the untimed first step).
        clock: seconds, monotonic (tests pass their own).
    """

    def __init__(self, start: int, total: int, checkpoint_every: int, measure_steps: int = 5,
                 clock=time.perf_counter):
        self.start, self.total, self.checkpoint_every = int(start), int(total), int(checkpoint_every)
        self.measure_steps, self.clock = max(1, int(measure_steps)), clock
        self.seconds: list[float] = []  # timed steps' durations
        self._last = clock()
        self._reported = False

    def step_done(self, step: int) -> str | None:
        """Call after each optimisation step (``step``: steps done so far). Returns the estimate line once."""
        now = self.clock()
        if step > self.start + 1:  # the first step of this session is not timed
            self.seconds.append(now - self._last)
        self._last = now
        if self._reported or (len(self.seconds) < self.measure_steps and step < self.total):
            return None
        self._reported = True
        return self.line(step)

    def seconds_per_step(self) -> float | None:
        return float(np.median(self.seconds)) if self.seconds else None

    def line(self, step: int) -> str:
        """``measured 3.7 s/step (median of 5 steps); 2,994 steps left: about 3 h 05 min; a checkpoint every 250
        steps (15 min; --checkpoint-every N saves sooner)``."""
        per_step = self.seconds_per_step()
        if per_step is None:
            return f"step {step} of {self.total}: too few steps to time"
        left = self.total - step
        next_save = self.checkpoint_every - step % self.checkpoint_every
        text = (f"measured {per_step:.2f} s/step (median of {len(self.seconds)} steps); {left:,} steps left: about "
                f"{format_duration(left * per_step)}")
        if left > 0:
            every = format_duration(self.checkpoint_every * per_step)
            text += (f"; a checkpoint every {self.checkpoint_every:,} steps ({every}"
                     f", the next in {format_duration(min(next_save, left) * per_step)}; --checkpoint-every N saves "
                     f"sooner)")
        return text
