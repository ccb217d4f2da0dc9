"""Atomic, link-safe file writes: write a unique temporary file in the same folder, then ``os.replace`` it into
place; out-of-space failures as one line."""
from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import signal
import stat
import tempfile
from pathlib import Path
from typing import Callable


def _umask() -> int:
    """The process umask, read without changing it where Linux allows (``/proc/self/status``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: read it by setting it, then put it back at once
    os.umask(mask)
    return mask


def _final_mode(path: Path) -> int:
    """The mode ``open(path, "w")`` would leave: the existing file's mode, else ``0o666 & ~umask``."""
    try:
        return stat.S_IMODE(path.stat().st_mode)  # a link's target's mode: read only, never written
    except OSError:
        return 0o666 & ~_umask()


class DiskFullError(OSError):
    """A write failed for lack of space (a full disk, a quota, a file-size limit); its message is one line that
    names the file and the folder to free."""


OUT_OF_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_SPACE_WORDS = ("no space left", "disk quota", "file too large", "errno = 28", "errno = 27", "errno = 122")
_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)-[^.]+\.tmp")


def temp_name_parts(path: Path) -> tuple[str, str]:
    """The prefix and suffix of ``path``'s temporary files: ``.<name>.<pid>-<random>.tmp<suffix>``."""
    return f".{path.name}.{os.getpid()}-", f".tmp{path.suffix}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True


def remove_stale_temps(folder, name: str | None = None) -> int:
    """Deletes the temporary files that writers killed by SIGKILL (or a power cut) left in ``folder``: those of
    :func:`atomic_write` whose writing process is gone (``name``: only those of that final file name). Links are
    removed, never followed. Returns how many were removed."""
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        m = _TEMP.match(entry.name)
        if not m or (name is not None and m.group("name") != name) or int(m.group("pid")) == os.getpid():
            continue
        if not _alive(int(m.group("pid"))):
            try:
                os.unlink(entry.path)
                removed += 1
            except OSError:
                pass
    return removed


def out_of_space(exc: BaseException, folder=None, written=None) -> bool:
    """Whether ``exc`` (or an error it wraps) is a write that failed for lack of space: ENOSPC, EDQUOT or EFBIG,
    a library's message that says so (h5py, ffmpeg), or, for libraries that lose the reason (torch.save's
    "unexpected pos"), a ``folder`` with under 1 MiB free or a file ``written`` up to the file-size limit."""
    for seen in _chain(exc):
        if isinstance(seen, OSError) and seen.errno in OUT_OF_SPACE:
            return True
        if any(word in str(seen).lower() for word in _SPACE_WORDS):
            return True
    if folder is not None:
        try:
            if shutil.disk_usage(folder).free < (1 << 20):
                return True
        except OSError:
            pass
    if written is not None:
        try:
            import resource

            limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
            return limit != resource.RLIM_INFINITY and os.lstat(written).st_size >= limit
        except (ImportError, OSError, ValueError):
            pass
    return False


def disk_full_error(path, exc: BaseException) -> DiskFullError:
    """The one-line error for a write of ``path`` that ran out of space."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        free = f"{shutil.disk_usage(folder).free / 2**20:.1f} MiB free"
    except OSError:
        free = "free space unknown"
    number = next((e.errno for e in _chain(exc) if isinstance(e, OSError) and e.errno in OUT_OF_SPACE), None)
    reason = os.strerror(number) if number else "no space left on device"
    return DiskFullError(errno.ENOSPC, f"cannot write {path}: out of space ({reason}; {folder} has {free}); "
                                       f"nothing was written: free some space and run the command again")


def check_free_space(path, needed: int) -> None:
    """Raises :class:`DiskFullError` when the folder of ``path`` has less than ``needed`` bytes (+ 1 MiB) free,
    before a large write starts."""
    folder = Path(path).parent if str(Path(path).parent) else Path(".")
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    if free < needed + (1 << 20):
        raise DiskFullError(errno.ENOSPC, f"cannot write {path}: it needs about {needed / 2**20:.1f} MiB and "
                                          f"{folder} has {free / 2**20:.1f} MiB free; nothing was written: free "
                                          f"some space and run the command again")


def _chain(exc: BaseException):
    """``exc`` and the errors it wraps (``__cause__``, else ``__context__``), each once."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


@contextlib.contextmanager
def _sigterm_raises():
    """Within the block, SIGTERM raises SystemExit (status 143) in the main thread, so ``finally`` clauses run and
    temporary files are removed; a handler someone else installed is left alone."""
    try:
        installed = signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
        if installed:
            def _raise(signum, frame):
                raise SystemExit(128 + signum)

            signal.signal(signal.SIGTERM, _raise)
    except ValueError:  # not the main thread
        installed = False
    try:
        yield
    finally:
        if installed:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def atomic_write(path, write_fn: Callable[[str], None], verify: Callable[[str], None] | None = None) -> None:
    """Calls ``write_fn(tmp_path)`` and renames the result to ``path``; a crash never leaves a partial file.

    The temporary file ``.<name>.<pid>-<random>.tmp<suffix>`` is created in the same folder with ``O_EXCL`` (a
    unique name, never an existing file or symlink), and renamed over ``path`` only after ``write_fn`` and
    ``verify`` return and only while it is still a regular file (one a link was swapped in for is refused). The
    rename replaces a symlink at ``path`` itself, never its target. The temporary file is removed on every error,
    Ctrl-C and SIGTERM; those of writers killed outright (SIGKILL) are removed by the next write of the same
    file. A full disk (or quota, or file-size limit) becomes :class:`DiskFullError`, one line. The
    final file gets the mode a plain ``open()`` would give it (``mkstemp`` alone would leave it private, 0600).

    Args:
        path: final file path; its folder is created if needed.
        write_fn: writes the complete file to the temporary path it is given.
        verify: optional check of the written temporary file (e.g. reading a video back); raises if it is bad.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path.parent, path.name)
    prefix, suffix = temp_name_parts(path)
    # The temporary name keeps the final suffix: writers that pick a format by extension (videos, np.savez) work.
    with _sigterm_raises():
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
        try:
            os.close(fd)
            try:
                write_fn(tmp)
                if verify is not None:
                    verify(tmp)
            except Exception as exc:
                if out_of_space(exc, path.parent, tmp):
                    raise disk_full_error(path, exc) from None
                raise
            if not stat.S_ISREG(os.lstat(tmp).st_mode):  # writers may recreate the file, but never as a link
                raise OSError(errno.ELOOP, f"refusing to write {path}: its temporary file {tmp} was replaced "
                                           f"(by a link or another file) while it was written")
            os.chmod(tmp, _final_mode(path))
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)  # unlink removes a link itself, never its target
            raise


def in_child_process(write_fn: Callable[[str], None]) -> Callable[[str], None]:
    """``write_fn`` run in a forked child process, for libraries that cannot recover from a failed write: HDF5,
    after a full disk, prints a traceback per open object and crashes the interpreter at exit (exit 139). The
    child shares the parent's memory (copy-on-write: no copy of the data), reports an error back as
    ``OSError(errno, first line)`` and ends with ``os._exit``, so nothing of the failed library state survives.
    Where ``os.fork`` is missing (Windows), ``write_fn`` runs in this process."""
    if not hasattr(os, "fork"):
        return write_fn

    def _run(tmp: str) -> None:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: write, report, and leave without running any exit handler
            code = 0
            try:
                os.close(read_end)
                os.dup2(os.open(os.devnull, os.O_WRONLY), 2)  # the library's own reports: the parent words it
                write_fn(tmp)
            except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent
                code = 1
                number = exc.errno if isinstance(exc, OSError) and exc.errno else 0
                text = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:2000]
                os.write(write_end, f"{number}\n{type(exc).__name__}: {text}".encode(errors="replace"))
            finally:
                os._exit(code)
        os.close(write_end)
        try:
            with os.fdopen(read_end, "rb") as report:
                message = report.read().decode(errors="replace")
            _, status = os.waitpid(pid, 0)
            pid = None
        finally:
            if pid is not None:  # interrupted while the child writes: stop it before the temp file is removed
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
            return
        if message:
            number, _, text = message.partition("\n")
            raise OSError(int(number or 0), text)
        raise OSError(0, f"the writer process ended with status {status}")

    return _run


def atomic_write_text(path, text: str) -> None:
    """Writes ``text`` to ``path`` atomically."""
    def _write(tmp: str) -> None:
        with open(tmp, "w") as f:
            f.write(text)

    atomic_write(path, _write)


def file_sha256(path, chunk: int = 1 << 20) -> str:
    """The SHA-256 hex digest of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()
