"""Released checkpoints: a folder with ``config.yaml`` and ``model.safetensors`` (weights only, no pickle)."""
from __future__ import annotations

from pathlib import Path

from safetensors.torch import load_file, save_file

from world_model.config import LeWMConfig
from world_model.io_utils import atomic_write

CONFIG_NAME = "config.yaml"
WEIGHTS_NAME = "model.safetensors"


class CheckpointMismatchError(ValueError):
    """The weights in a checkpoint do not fit the architecture its config describes."""


def save_checkpoint(model, path, half: bool = False) -> None:
    """Writes ``model.cfg`` and ``model.state_dict()`` to the folder ``path`` (each file atomically).

    Args:
        model: a LeWM (or DDP-unwrapped module with ``.cfg``).
        path: output folder, created if needed.
        half: store floating-point weights as float16 (BatchNorm counters stay integer).
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    state = {}
    for k, v in model.state_dict().items():
        v = v.detach().cpu().contiguous()
        if half and v.is_floating_point():
            v = v.half()
        state[k] = v
    atomic_write(path / WEIGHTS_NAME, lambda tmp: save_file(state, tmp, metadata={"format": "pt"}))
    model.cfg.to_yaml(path / CONFIG_NAME)


def _describe_mismatch(expected: dict, got: dict) -> str:
    missing = sorted(set(expected) - set(got))
    unexpected = sorted(set(got) - set(expected))
    shapes = [f"{k} {tuple(got[k].shape)} vs config {tuple(expected[k].shape)}"
              for k in sorted(set(expected) & set(got)) if expected[k].shape != got[k].shape]
    parts = []
    for label, items in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatch", shapes)):
        if items:
            more = f" (+{len(items) - 3} more)" if len(items) > 3 else ""
            parts.append(f"{label}: {', '.join(items[:3])}{more}")
    return "; ".join(parts)


def load_checkpoint(cls, path, map_location="cpu"):
    """Builds ``cls(config)`` from ``path/config.yaml`` and loads ``path/model.safetensors`` as float32.

    Raises:
        FileNotFoundError: folder, config or weights missing.
        CheckpointMismatchError: keys or shapes differ between the weights and the config's architecture.
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"checkpoint folder not found: {path}")
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        if not (path / name).is_file():
            raise FileNotFoundError(f"checkpoint {path} has no {name}")
    cfg = LeWMConfig.from_yaml(path / CONFIG_NAME)
    model = cls(cfg)
    expected = model.state_dict()
    got = load_file(str(path / WEIGHTS_NAME), device="cpu")
    problem = _describe_mismatch(expected, got)
    if problem:
        raise CheckpointMismatchError(f"checkpoint {path} does not match its config: {problem}")
    got = {k: v.to(expected[k].dtype) for k, v in got.items()}
    model.load_state_dict(got, strict=True)
    return model.to(map_location).eval()
