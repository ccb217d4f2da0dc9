"""What CPU this is, in words that tell machines apart (for records of timings and collections)."""
from __future__ import annotations

import platform


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
