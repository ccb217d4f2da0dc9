"""Pieces shared by the benchmarks: the machine record and interleaved timing rounds."""
from __future__ import annotations

import datetime
import os
import platform
import time

import torch


def cpu_label() -> str:
    """The CPU's model name with its family/model numbers and the vector extensions that decide precision, e.g.
    ``AMD EPYC (family 23 model 1; avx2)``: the model name alone ("AMD EPYC") names Zen 1 and Zen 4 alike, and
    they differ 80x in bf16 speed."""
    fields = {}
    try:
        for line in open("/proc/cpuinfo"):
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
            if not line.strip():
                break  # the first processor's block is enough
    except OSError:
        return platform.processor() or "unknown CPU"
    flags = set(fields.get("flags", "").split())
    isa = [f for f in ("amx_bf16", "avx512_bf16", "avx512f", "avx2") if f in flags][:2] or ["no avx2"]
    name = fields.get("model name", platform.processor() or "unknown CPU")
    return f"{name} (family {fields.get('cpu family', '?')} model {fields.get('model', '?')}; {', '.join(isa)})"


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
