"""The destination lock: one writer per tree; released by the kernel when a run dies."""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from types import TracebackType

from neurofetch.errors import DestinationError, LockedError
from neurofetch.transfer.journal import state_dir


class DestinationLock:
    """An exclusive, non-blocking lock on ``DEST/.neurofetch/lock`` (flock; msvcrt on Windows).

    The file records who holds it, so a second run can name the first. A lock left by a killed
    run is no obstacle: the kernel released it with the process. A shard's lock (``name``) is taken
    ``within`` the whole tree's lock, held shared: shards work side by side, but never beside a run
    over the whole tree, which holds that lock exclusively (not on Windows, which has no shared locks).
    """

    def __init__(self, dest: Path, name: str = "lock", *, within: str | None = None) -> None:
        self.path = state_dir(dest) / name
        self.tree_path = state_dir(dest) / within if within else None
        self._fd: int | None = None
        self._tree_fd: int | None = None

    def acquire(self) -> DestinationLock:
        if self.tree_path is not None:
            self._tree_fd = self._take(self.tree_path, shared=True)
            with contextlib.suppress(OSError):   # whoever it names (a killed run) does not hold it now
                os.ftruncate(self._tree_fd, 0)
        try:
            fd = self._take(self.path, shared=False)
        except BaseException:
            self.release()
            raise
        holder = json.dumps({"pid": os.getpid(), "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}).encode()
        with contextlib.suppress(OSError):   # a full disk: the lock holds all the same, its holder unnamed
            os.ftruncate(fd, 0)
            os.write(fd, holder)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)   # no stale holder for the next run to name
            os.close(self._fd)
            self._fd = None
        if self._tree_fd is not None:
            os.close(self._tree_fd)
            self._tree_fd = None

    def _take(self, path: Path, *, shared: bool) -> int:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise DestinationError(f"cannot write to the destination {path.parent.parent}: {exc.strerror}") from None
        if not _try_lock(fd, shared=shared):
            holder = _describe_holder(fd)
            os.close(fd)
            raise LockedError(f"another neurofetch run holds {path.parent.parent} ({holder}); "
                              "it will be free when that run ends")
        return fd

    def __enter__(self) -> DestinationLock:
        return self.acquire()

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


def _try_lock(fd: int, *, shared: bool = False) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        if shared:
            return True
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        except OSError:
            return False
        return True
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _describe_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 4096, 0)
        if not text:   # the whole tree's lock, held shared
            return "runs with --shard are working in it"
        info = json.loads(text)
        return f"pid {info['pid']}, started {info['started']}"
    except (OSError, ValueError, KeyError, AttributeError):
        return "holder unknown"
