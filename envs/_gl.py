"""Choose MuJoCo's OpenGL backend before anything imports mujoco.

MuJoCo reads ``MUJOCO_GL`` once, at import time. ``egl`` renders headless on Linux, on a GPU or on the CPU
through Mesa; macOS has only ``glfw``. ``setdefault`` keeps a value the user chose.
"""

import os
import sys


def configure_gl_backend() -> str:
    """Sets ``MUJOCO_GL`` unless the user already did; returns the value in force."""
    os.environ.setdefault("MUJOCO_GL", "glfw" if sys.platform == "darwin" else "egl")
    return os.environ["MUJOCO_GL"]
