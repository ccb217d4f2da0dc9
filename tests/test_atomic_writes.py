"""Every write atomic and link-safe (``common.io_utils.atomic_write``): a unique temporary name made with
O_EXCL, never a planted link followed, the temporary file removed on every error, Ctrl-C and SIGTERM, stale ones of
killed writers removed by the next write, and a full disk reported as one error."""

import errno
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from common.io_utils import DiskFullError, atomic_write, atomic_write_text, in_child_process, remove_stale_temps


def _dead_pid() -> int:
    """The id of a process that has ended (a fresh child, waited for)."""
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(child.stdout)


def _leftovers(folder: Path, keep=()) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


def test_planted_links_are_never_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    target = tmp_path / "out" / "d.h5"
    target.parent.mkdir()
    for name in ("d.h5.tmp", ".d.h5.tmp", "d.h5"):  # the old fixed temporary name, a guess, the target itself
        (target.parent / name).symlink_to(victim)
    atomic_write_text(target, "new")
    assert victim.read_text() == "precious"
    assert not target.is_symlink() and target.read_text() == "new"


def test_a_link_swapped_in_during_the_write_is_refused(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious")

    def swap(tmp):
        os.unlink(tmp)
        os.symlink(victim, tmp)

    with pytest.raises(OSError, match="was replaced"):
        atomic_write(tmp_path / "x.txt", swap)
    assert victim.read_text() == "precious" and _leftovers(tmp_path) == ["victim"]


@pytest.mark.parametrize("failure", ["error", "ctrl-c", "sigterm"])
def test_the_temporary_file_is_removed_on_every_stop(failure, tmp_path):
    def write(tmp):
        Path(tmp).write_text("half")
        if failure == "error":
            raise ValueError("writer failed")
        if failure == "ctrl-c":
            raise KeyboardInterrupt
        os.kill(os.getpid(), signal.SIGTERM)

    expected = {"error": ValueError, "ctrl-c": KeyboardInterrupt, "sigterm": SystemExit}[failure]
    with pytest.raises(expected):
        atomic_write(tmp_path / "x.txt", write)
    assert _leftovers(tmp_path) == []
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


@pytest.mark.parametrize("number", [errno.ENOSPC, errno.EDQUOT, errno.EFBIG])
def test_out_of_space_is_one_error_and_leaves_nothing(number, tmp_path):
    def write(tmp):
        Path(tmp).write_text("half")
        raise OSError(number, os.strerror(number))

    with pytest.raises(DiskFullError) as caught:
        atomic_write(tmp_path / "x.txt", write)
    text = str(caught.value)
    assert "out of space" in text and "x.txt" in text and "\n" not in text
    assert _leftovers(tmp_path) == []


def test_a_library_that_loses_the_reason_is_still_out_of_space(tmp_path, monkeypatch):
    """torch.save on a full disk raises RuntimeError('... unexpected pos ...'): the folder's free space tells."""
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda _: usage(10, 10, 0))

    def write(tmp):
        raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 64 vs 0")

    with pytest.raises(DiskFullError):
        atomic_write(tmp_path / "train_state.pt", write)


def test_stale_temporaries_of_killed_writers_are_removed(tmp_path):
    dead, alive = _dead_pid(), os.getppid()
    stale = tmp_path / f".v.mp4.{dead}-abc.tmp.mp4"
    live = tmp_path / f".v.mp4.{alive}-abc.tmp.mp4"
    other = tmp_path / f".w.mp4.{dead}-abc.tmp.mp4"
    for p in (stale, live, other):
        p.write_bytes(b"")
    atomic_write_text(tmp_path / "v.mp4", "x")  # the next write of the same file
    assert not stale.exists() and live.exists() and other.exists()
    assert remove_stale_temps(tmp_path) == 1 and not other.exists()


def test_a_writer_in_a_child_process_reports_its_error(tmp_path):
    def write(tmp):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(DiskFullError):
        atomic_write(tmp_path / "d.h5", in_child_process(write))
    atomic_write(tmp_path / "ok.txt", in_child_process(lambda tmp: Path(tmp).write_text("done")))
    assert (tmp_path / "ok.txt").read_text() == "done" and _leftovers(tmp_path) == ["ok.txt"]


@pytest.mark.slow
def test_a_video_writer_killed_by_sigkill_leaves_nothing_after_the_next_write(tmp_path):
    """SIGKILL mid-encoding cannot be caught: its hidden temporary file stays until the next write of that video,
    which removes it (the issue's hidden 0-byte temp file)."""
    import time

    import numpy as np

    from agent.video import count_frames, write_video

    code = ("import sys, time, imageio.v2 as imageio\n"
            "from agent.video import write_video\n"
            "imageio.mimsave = lambda tmp, frames, **kw: (open(tmp, 'wb').write(b'half'), time.sleep(60))\n"
            "write_video(sys.argv[1], [__import__('numpy').zeros((16, 16, 3), 'uint8')] * 3)\n")
    child = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "v.mp4")])
    deadline = time.time() + 60
    while not any(p.stat().st_size for p in tmp_path.glob(".v.mp4.*")) and time.time() < deadline:
        time.sleep(0.05)
    child.kill()
    child.wait()
    assert [p.name for p in tmp_path.iterdir()][0].startswith(".v.mp4.")  # what SIGKILL leaves
    write_video(tmp_path / "v.mp4", [np.full((16, 16, 3), i * 40, np.uint8) for i in range(4)], fps=10)
    assert _leftovers(tmp_path) == ["v.mp4"] and count_frames(tmp_path / "v.mp4") == 4


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_a_video_is_kept_only_when_it_reads_back(suffix, tmp_path, monkeypatch):
    """ffmpeg's own failures (a full disk: 'error writing trailer') never reach Python: the file is read back."""
    import imageio.v2 as imageio
    import numpy as np

    from agent.video import count_frames, write_video

    frames = [np.full((16, 16, 3), i * 40, np.uint8) for i in range(5)]
    write_video(tmp_path / f"ok{suffix}", frames, fps=10)
    assert count_frames(tmp_path / f"ok{suffix}") == 5
    if suffix == ".mp4":  # the writer "succeeds" with a damaged file, as ffmpeg does on a full disk
        monkeypatch.setattr(imageio, "mimsave", lambda tmp, frames, **kw: Path(tmp).write_bytes(b"\0" * 8192))
    else:
        import agent.video

        monkeypatch.setattr(agent.video, "_write_gif", lambda tmp, frames, fps: Path(tmp).write_bytes(b"GIF89a"))
    with pytest.raises(ValueError, match="does not read back"):
        write_video(tmp_path / f"bad{suffix}", frames, fps=10)
    assert _leftovers(tmp_path) == [f"ok{suffix}"]
