"""Which package index ``make setup`` installs torch from (``TORCH_INDEX=auto``, the default); prints a URL or
nothing (nothing: pip's own index and config).

On Linux, PyPI's ``torch`` wheel is the CUDA build (several GB of NVIDIA libraries): what a machine with an
NVIDIA GPU needs, and nothing else does. So:

- an NVIDIA GPU (``nvidia-smi`` on the PATH, or ``/proc/driver/nvidia``): nothing, so pip takes PyPI's CUDA build;
- Linux without one: PyTorch's CPU index, https://download.pytorch.org/whl/cpu, when it answers within 5 s;
- macOS and Windows (PyPI's wheel has no CUDA there), or no answer (an offline machine whose pip is configured
  with local wheels): nothing.

    python experiments/setup/torch_index.py          # -> https://download.pytorch.org/whl/cpu (or nothing)
    make setup TORCH_INDEX=https://download.pytorch.org/whl/cu128   # choose yourself; TORCH_INDEX= for pip's own
"""

from __future__ import annotations

import os
import platform
import shutil
import urllib.request

CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def has_nvidia_gpu() -> bool:
    """An NVIDIA driver is installed: ``nvidia-smi`` on the PATH or the kernel module's ``/proc`` entry."""
    return shutil.which("nvidia-smi") is not None or os.path.isdir("/proc/driver/nvidia")


def reachable(url: str, timeout: float = 5.0) -> bool:
    """``url`` answers within ``timeout`` seconds."""
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def torch_index(system: str, nvidia_gpu: bool, cpu_index_reachable) -> str:
    """The index URL to install torch from, or "" for pip's own (see the module docstring).

    Args:
        system: ``platform.system()``: "Linux", "Darwin", "Windows".
        nvidia_gpu: the machine has an NVIDIA GPU.
        cpu_index_reachable: a callable ``() -> bool``, asked only when the answer depends on it.
    """
    if system != "Linux" or nvidia_gpu:
        return ""
    return CPU_INDEX if cpu_index_reachable() else ""


def main() -> None:
    print(torch_index(platform.system(), has_nvidia_gpu(), lambda: reachable(CPU_INDEX + "/")))


if __name__ == "__main__":
    main()
