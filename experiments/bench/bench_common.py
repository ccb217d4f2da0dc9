"""Pieces shared by the benchmarks: the machine record and interleaved timing rounds."""
from __future__ import annotations

import datetime
import os
import platform
import time

import torch

from common.cpu_info import cpu_label  # noqa: F401 (the benchmarks import it from here)


def machine() -> dict:
    """CPU (``cpu_label``), cores, torch version and threads, Python, date and load average, for a results file."""
    return dict(cpu=cpu_label(), cores=os.cpu_count(), torch=torch.__version__, threads=torch.get_num_threads(),
                python=platform.python_version(), date=datetime.datetime.now().isoformat(timespec="seconds"),
                loadavg_1_5_15=list(os.getloadavg()))


def interleaved(configs: dict, repeats: int) -> dict:
    """Seconds per run of each configuration ``name -> (run, warmup)``: one warm-up each, then ``repeats`` rounds.

    In each round every configuration runs once, in forward order on even rounds and reversed on odd ones,
    so that ours and the peer's run back to back and neither always runs first.
    """
    for _, warmup in configs.values():
        warmup()
    times = {name: [] for name in configs}
    for round_ in range(repeats):
        for name in (list(configs) if round_ % 2 == 0 else list(reversed(configs))):
            start = time.perf_counter()
            configs[name][0]()
            times[name].append(time.perf_counter() - start)
    return times
