"""The one user-error boundary of every command: a user's mistake ends in one line on stderr and exit status 2.

Every ``lewm-*`` command runs its body through :func:`run_cli`. Code that reads a user's file translates the
library's own error (h5py, safetensors, ``torch.load``) into a :class:`UserInputError` that names the file and the
fix, close to where it happens; the boundary also catches the raw types as a fallback, so no user input ever ends
in a traceback. ``LEWM_DEBUG=1`` shows the traceback instead.
"""
from __future__ import annotations

import errno
import os
import pickle
import sys
from typing import Callable, Optional


class UserInputError(ValueError):
    """The user's input is wrong; the message names the file or option and says how to fix it."""


def _library_errors() -> tuple:
    """Errors of the libraries we read user files with, when they are installed."""
    found = []
    try:
        from safetensors import SafetensorError

        found.append(SafetensorError)
    except ImportError:  # pragma: no cover - safetensors is a dependency
        pass
    return tuple(found)


# What a user can cause: a missing, unreadable, truncated or foreign file (OSError covers h5py's open errors),
# a bad option value or config key, a mismatched checkpoint, a damaged pickle-free torch file.
USER_ERRORS = (OSError, ValueError, KeyError, EOFError, pickle.UnpicklingError) + _library_errors()


def describe(exc: BaseException) -> str:
    """The first line of an exception's message, with the file it concerns when the message omits it."""
    if isinstance(exc, KeyError) and exc.args and not isinstance(exc, UserInputError):
        return f"missing key {exc.args[0]!r}"
    text = str(exc).strip()
    from common.io_utils import DiskFullError

    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) \
            and not isinstance(exc, DiskFullError):  # a bare system error (our own says it all already)
        where = f"cannot write {exc.filename}" if exc.filename else "a write failed"
        return f"{where}: out of space ({exc.strerror}); free some space and run the command again"
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
        name = exc.filename
        if name is not None and str(name) not in text:
            text = f"{name}: {text}"
    elif isinstance(exc, OSError) and getattr(exc, "filename", None):
        text = f"{exc.filename}: {text}"
    first = text.splitlines()[0] if text else type(exc).__name__
    return first


def out_of_memory_hint(exc: BaseException) -> Optional[str]:
    """A one-line explanation when ``exc`` is an allocation failure (CPU or GPU), else None."""
    text = str(exc)
    oom = isinstance(exc, MemoryError) or "out of memory" in text.lower() or "can't allocate memory" in text
    if not oom:
        return None
    return ("out of memory: the plan or batch does not fit; lower --samples (or --episodes, the number of envs "
            "planned together)")


def run_cli(prog: str, body: Callable[[Optional[list]], int], argv: Optional[list] = None) -> int:
    """Runs ``body(argv)``; user errors become ``prog: error: <one line>`` on stderr and exit status 2.

    Ctrl-C becomes ``prog: interrupted`` and status 130. Allocation failures (``MemoryError``, torch's
    out-of-memory errors) become one line that says what to lower, status 2.
    """
    try:
        return body(argv)
    except KeyboardInterrupt:
        # An interrupt can land inside a library's constructor (dm_control's rendering context): the half-built
        # object's destructor then fails at exit. We are stopping anyway; those reports would only bury the line.
        sys.unraisablehook = lambda unraisable: None
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as exc:
        if os.environ.get("LEWM_DEBUG"):
            raise
        print(f"{prog}: error: {describe(exc)}", file=sys.stderr)
        return 2
    except (MemoryError, RuntimeError) as exc:
        hint = out_of_memory_hint(exc)
        if hint is None or os.environ.get("LEWM_DEBUG"):
            raise
        print(f"{prog}: error: {hint}", file=sys.stderr)
        return 2
