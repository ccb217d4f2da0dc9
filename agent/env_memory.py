"""How many envs fit in memory at once? ``lewm-eval`` steps every episode of a run as its own env, and some envs are
heavy: an OGBench cube env with its software renderer holds about 250 MB, so 50 episodes need 12-15 GB. Rather than
be killed by the kernel (exit status 137, no word), a run measures what one more env costs and, where all of them
would not fit, runs its episodes in groups that do, and says so.

Planning noise is drawn per group, so a run split into groups does not repeat an unsplit run's episodes exactly;
``--max-envs`` fixes the group size for a run that must reproduce across machines.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Callable

from agent.plan_memory import available_bytes

# Share of the memory still available that a run's envs may take: planning, the model and the page cache need
# the rest.
ENV_MEMORY_SHARE = 0.8


def rss_bytes() -> int | None:
    """Resident memory of this process (bytes); None where /proc cannot be read (not Linux)."""
    try:
        match = re.search(r"VmRSS:\s+(\d+)\s+kB", Path("/proc/self/status").read_text())
    except OSError:
        return None
    return int(match.group(1)) * 1024 if match else None


def bytes_per_env(make_env: Callable) -> int | None:
    """Memory one more env takes (bytes): the growth while a second env is built after a first (call it with
    one already alive: the first envs of a process also pay one-time costs such as the renderer's driver). Both
    are closed again. None where it cannot be read."""
    import gc

    envs = [make_env()]
    try:
        gc.collect()  # garbage of earlier work, freed in the middle of the measurement, would hide the growth
        before = rss_bytes()
        envs.append(make_env())
        after = rss_bytes()
    finally:
        for env in envs:
            env.close()
    if before is None or after is None:
        return None
    return max(0, after - before)


def envs_that_fit(wanted: int, per_env: int | None, have: int | None, share: float = ENV_MEMORY_SHARE) -> int:
    """How many of ``wanted`` envs of ``per_env`` bytes fit in ``share`` of ``have`` bytes (at least 1; all of
    them where either size is unknown)."""
    if wanted < 1:
        raise ValueError(f"wanted must be at least 1, got {wanted}")
    if not per_env or have is None:
        return wanted
    return max(1, min(wanted, int(share * have // per_env)))


def group_size(make_env: Callable, wanted: int, max_envs: int | None = None) -> int:
    """Envs to run at once for ``wanted`` episodes: ``max_envs`` when given, else as many as fit in memory
    (a line on stderr when that splits the run)."""
    if max_envs is not None:
        if max_envs < 1:
            raise ValueError(f"max_envs must be at least 1, got {max_envs}")
        return min(wanted, max_envs)
    if wanted == 1:
        return 1
    per_env, have = bytes_per_env(make_env), available_bytes()
    size = envs_that_fit(wanted, per_env, have)
    if size < wanted:
        print(f"lewm-eval: {wanted} envs at {per_env / 2 ** 20:.0f} MiB each would not fit in the "
              f"{have / 2 ** 30:.1f} GiB available: running {size} at a time (--max-envs {size} repeats this run "
              f"elsewhere)", file=sys.stderr, flush=True)
    return size
