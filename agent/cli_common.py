"""What every command line shares: user errors end in one line and exit status 2, never a traceback."""

from __future__ import annotations

import sys
from typing import Callable

# Errors a user can cause: bad paths, bad values, unknown names, mismatched checkpoints.
USER_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError, ValueError, KeyError)


def run_cli(prog: str, body: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Runs ``body(argv)``; turns user errors into ``prog: error: message`` on stderr and exit status 2.

    Set ``LEWM_DEBUG=1`` to see the full traceback instead.
    """
    import os

    try:
        return body(argv)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as exc:
        if os.environ.get("LEWM_DEBUG"):
            raise
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"{prog}: error: {message}", file=sys.stderr)
        return 2
