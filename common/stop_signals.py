"""Stopping a training run between steps: Ctrl-C (SIGINT) and SIGTERM wait for the step in progress to finish.

A signal that lands inside a step (after the forward pass has updated BatchNorm's running statistics, or after
the optimiser moved half the weights) would leave a state no uninterrupted run ever had; saving it makes a resumed
run differ from the uninterrupted one. ``DeferredStop`` records the signal instead, the loop saves the state of
the last completed step and stops (:class:`Stopped`); a second signal stops at once, leaving the state saved last.
SIGKILL cannot be caught: the run resumes from its last periodic save (``checkpoint_every``).
"""
from __future__ import annotations

import signal
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Stopped(KeyboardInterrupt):
    """The run stopped on a signal after saving its last completed step; ``signum`` names the signal."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)


class DeferredStop:
    """Context manager: while active (main thread only), SIGINT and SIGTERM set ``signum`` instead of stopping.

    ``enabled=False`` (e.g. several data-parallel processes, which must stop at the same step) leaves the handlers
    as they are.
    """

    def __init__(self, enabled: bool = True):
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.signum: int | None = None
        self._previous: dict = {}

    def _handle(self, signum, frame) -> None:
        if self.signum is not None:  # a second signal: stop now, the last saved state stays
            raise KeyboardInterrupt
        self.signum = signum

    def __enter__(self) -> "DeferredStop":
        if self.enabled:
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
