"""Will a plan fit in memory? A check before planning, so a too-large ``--samples`` (or too many envs planned
together) is one clear line, not a process killed by the kernel with exit status 137 and no word.

Measured on the CPU (experiments/bench/plan_memory.md; shipped reacher model, horizon 5, latent 192, action
block 10, rollouts in chunks of 1024 candidates): one plan holds about 31 KB per candidate, i.e. 8 float32
copies of a candidate's predicted latents and actions. The estimate below allows 10. On CUDA the rollout is not
chunked and torch raises its own out-of-memory error, which the command-line boundary turns into one line.
"""

from __future__ import annotations

from pathlib import Path

from common.cli_errors import UserInputError

BYTES_PER_FLOAT = 4
COPIES_PER_CANDIDATE = 10


def plan_bytes(horizon: int, embed_dim: int, action_block_dim: int, num_samples: int, batch: int = 1) -> int:
    """Estimated peak bytes of one CPU plan: ``batch`` envs x ``num_samples`` candidates x ``horizon`` blocks."""
    per_candidate = COPIES_PER_CANDIDATE * horizon * (embed_dim + action_block_dim) * BYTES_PER_FLOAT
    return int(batch) * int(num_samples) * per_candidate


def available_bytes() -> int | None:
    """Memory this process may still use: the smaller of the kernel's ``MemAvailable`` and what the cgroup
    limit leaves; None where neither can be read (not Linux)."""
    limits = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                limits.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
        if limit != "max":
            limits.append(int(limit) - used)
    except (OSError, ValueError):
        pass
    return min(limits) if limits else None


def check_plan_memory(agent, batch: int = 1) -> None:
    """Raises UserInputError when one plan of ``agent`` for ``batch`` envs would not fit in memory (CPU only).

    Args:
        agent: an :class:`agent.Agent` (its model config and planner give the sizes).
        batch: envs planned together in one call (``lewm-eval``: the episodes of a run).
    """
    if agent.device.type != "cpu":
        return
    cfg, planner = agent.world_model.cfg, agent.planner
    need = plan_bytes(planner.horizon, cfg.embed_dim, cfg.action_block_dim, planner.num_samples, batch)
    have = available_bytes()
    if have is not None and need > have:
        gib = 2 ** 30
        fits = max(2, int(planner.num_samples * have / need))
        envs = f" for {batch} envs planned together" if batch > 1 else ""
        raise UserInputError(f"--samples {planner.num_samples}{envs} needs about {need / gib:.1f} GiB per plan, "
                             f"more than the {have / gib:.1f} GiB available; use --samples {fits} or fewer")
