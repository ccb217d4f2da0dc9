"""Loads a script of ``experiments/`` (not a package) as a module, for tests of its functions."""
import importlib.util
from pathlib import Path

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


def load_script(name: str):
    """``load_script("merge_parts")`` -> the module of ``experiments/merge_parts.py``."""
    spec = importlib.util.spec_from_file_location(name, EXPERIMENTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
