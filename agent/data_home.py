"""Where collected data and long runs live: outside the checkout, in a folder the user chooses.

``LEWM_DATA`` names it; without it, ``$XDG_CACHE_HOME/lewm`` (``~/.cache/lewm``). A repository checkout may be
laid anew or deleted; data collected over hours must survive that, and must never enter git.
"""

from __future__ import annotations

import os
from pathlib import Path


def data_home() -> Path:
    """The data folder (not created here): ``$LEWM_DATA``, else ``$XDG_CACHE_HOME/lewm``, else ``~/.cache/lewm``."""
    chosen = os.environ.get("LEWM_DATA", "").strip()
    if chosen:
        return Path(chosen).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(cache).expanduser() if cache else Path.home() / ".cache") / "lewm"
