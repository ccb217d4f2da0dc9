"""Shared plumbing every package may import: the CLI error boundary and argument checks, help formatting,
atomic and link-safe file writes, CPU facts and thread settings, deferred stop signals.

It imports nothing else of ours, so ``agent``, ``planners``, ``envs`` and ``world_model`` all stand on it.
"""
