"""Command-line error policy for world_model's tools: user errors -> one line on stderr, exit status 2."""
from __future__ import annotations

import os
import sys
from typing import Callable, Optional

# What a user can cause: a missing or unreadable file, a bad config key or value, a mismatched checkpoint.
USER_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError, ValueError, KeyError)


def run_cli(prog: str, body: Callable[[Optional[list]], int], argv: Optional[list] = None) -> int:
    """Runs ``body(argv)`` and maps user errors to ``prog: error: <first line>`` and status 2.

    ``LEWM_DEBUG=1`` re-raises instead, to show the traceback.
    """
    try:
        return body(argv)
    except USER_ERRORS as exc:
        if os.environ.get("LEWM_DEBUG"):
            raise
        text = str(exc).strip()
        if isinstance(exc, KeyError) and exc.args:
            text = f"missing key {exc.args[0]!r}"
        print(f"{prog}: error: {text.splitlines()[0] if text else type(exc).__name__}", file=sys.stderr)
        return 2
