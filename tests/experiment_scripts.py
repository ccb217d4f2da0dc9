"""Loads a study script of ``experiments/<topic>/`` (not a package) as a module, for tests of its functions."""
import importlib.util
import sys
from pathlib import Path

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


def script_path(name: str) -> Path:
    """``script_path("torch_index")`` -> ``experiments/setup/torch_index.py``: the one script of that name."""
    found = sorted(EXPERIMENTS.glob(f"*/{name}.py"))
    if len(found) != 1:
        raise FileNotFoundError(f"experiments/*/{name}.py: {len(found)} scripts of that name")
    return found[0]


def load_script(name: str):
    """``load_script("cube_oracle_subgoals")`` -> the module of ``experiments/cube/cube_oracle_subgoals.py``."""
    spec = importlib.util.spec_from_file_location(name, script_path(name))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module
