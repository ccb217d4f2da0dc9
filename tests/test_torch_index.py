"""make setup's choice of torch build: PyPI's (CUDA on Linux) with an NVIDIA GPU, PyTorch's CPU index without one
when it answers, pip's own index otherwise; TORCH_INDEX chooses by hand."""

import shutil
import subprocess
from pathlib import Path

import pytest
from experiment_scripts import load_script

ROOT = Path(__file__).resolve().parent.parent
torch_index = load_script("torch_index")
CPU = "https://download.pytorch.org/whl/cpu"


def test_a_gpu_gets_pypis_cuda_build_and_a_cpu_only_linux_the_cpu_index():
    asked = []

    def answers():
        asked.append(1)
        return True

    assert torch_index.torch_index("Linux", True, answers) == "" and not asked  # PyPI's default: CUDA
    assert torch_index.torch_index("Linux", False, answers) == CPU
    assert torch_index.torch_index("Linux", False, lambda: False) == ""  # offline: pip's own (local wheels)
    assert torch_index.torch_index("Darwin", False, answers) == ""  # macOS wheels have no CUDA


@pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")
@pytest.mark.parametrize("index,expected", [(CPU, f'index=\'{CPU}\''), ("", "index=''"),
                                            ("auto", "experiments/setup/torch_index.py")])
def test_make_setup_passes_the_index_to_pip(index, expected, tmp_path):
    venv = tmp_path / "v"
    out = subprocess.run(["make", "-n", "-B", f"VENV={venv}", f"TORCH_INDEX={index}", f"{venv}/.installed"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert expected in out and '${index:+--index-url "$index"}' in out
