"""Harness for the table-driven user-error tests: run an installed command on a bad input and check that it
ends in one clear line, exit status 2, no traceback, nothing partial written and no input changed."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from conftest import installed_command


def run_command(exe: str, *args, cwd=None, timeout: int = 300, extra_env: dict | None = None
                ) -> subprocess.CompletedProcess:
    """Runs an installed console script with ``args`` (stringified); captures stdout and stderr as text."""
    env = {**os.environ, "LEWM_DEBUG": "", **(extra_env or {})}
    return subprocess.run([installed_command(exe), *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout, env=env)


def run_in_process(exe: str, *args, cwd=None, capsys=None) -> subprocess.CompletedProcess:
    """Runs the ``main`` that the console script ``exe`` starts, in this process, on ``args`` (stringified) from
    ``cwd``: the same error boundary without an interpreter start-up (about 2 s of CPU each). Output comes from
    pytest's ``capsys`` where given, else from redirected ``sys.stdout``/``sys.stderr``; argparse's own exits give
    their status. The working folder, torch's thread count, the
    SIGINT/SIGTERM handlers, the unraisable hook and ``LEWM_DEBUG`` (unset while it runs) are restored after."""
    import contextlib
    import io
    import signal
    import sys
    from importlib.metadata import entry_points

    import torch

    (script,) = entry_points(group="console_scripts", name=exe)
    main = script.load()
    argv = [str(a) for a in args]
    here, threads, hook = os.getcwd(), torch.get_num_threads(), sys.unraisablehook
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    debug = os.environ.pop("LEWM_DEBUG", None)
    out, err = io.StringIO(), io.StringIO()
    if capsys is not None:
        capsys.readouterr()
    os.chdir(cwd or here)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = main(argv)
            except SystemExit as exc:  # argparse's usage errors
                status = exc.code if isinstance(exc.code, int) else 1
    finally:
        os.chdir(here)
        torch.set_num_threads(threads)
        sys.unraisablehook = hook
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        if debug is not None:
            os.environ["LEWM_DEBUG"] = debug
    if capsys is not None:
        captured = capsys.readouterr()
        out.write(captured.out)
        err.write(captured.err)
    return subprocess.CompletedProcess([exe, *argv], status, out.getvalue(), err.getvalue())


def snapshot(*roots) -> dict[str, str]:
    """Every file under ``roots`` (files or folders) -> its SHA-256; compare two snapshots to see what changed."""
    files = {}
    for root in map(Path, roots):
        paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []
        for p in paths:
            files[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return files


def assert_user_error(result: subprocess.CompletedProcess, prog: str, *mentions: str) -> str:
    """Exit status 2, no traceback, exactly one ``prog: error:`` line on stderr, mentioning each of ``mentions``
    (case-insensitive). Returns that line."""
    stderr = result.stderr
    assert "Traceback" not in stderr, stderr
    assert result.returncode == 2, f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {stderr}"
    errors = [ln for ln in stderr.splitlines() if ln.startswith(f"{prog}: error:")]
    assert len(errors) == 1, stderr
    line = errors[0]
    for word in mentions:
        assert word.lower() in line.lower(), f"{word!r} not in {line!r}"
    return line


def assert_unchanged(before: dict[str, str], after: dict[str, str]) -> None:
    """No file added, removed or changed between two snapshots (temporary files included)."""
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
    assert not (added or removed or changed), f"added {added}, removed {removed}, changed {changed}"
