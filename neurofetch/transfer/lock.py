"""The destination lock: one writer per tree; released by the kernel when a run dies."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from types import TracebackType

from neurofetch.errors import LockedError, UsageError
from neurofetch.transfer.journal import state_dir


class DestinationLock:
    """An exclusive, non-blocking lock on ``DEST/.neurofetch/lock`` (flock; msvcrt on Windows).

    The file records who holds it, so a second run can name the first. A lock left by a killed
    run is no obstacle: the kernel released it with the process.
    """

    def __init__(self, dest: Path, name: str = "lock") -> None:
        self.path = state_dir(dest) / name
        self._fd: int | None = None

    def acquire(self) -> DestinationLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise UsageError(f"cannot write to the destination {self.path.parent.parent}: {exc.strerror}") from None
        if not _try_lock(fd):
            holder = _describe_holder(fd)
            os.close(fd)
            raise LockedError(f"another neurofetch run holds {self.path.parent.parent} ({holder}); "
                              "it will be free when that run ends")
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}).encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> DestinationLock:
        return self.acquire()

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


def _try_lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        except OSError:
            return False
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _describe_holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"pid {info['pid']}, started {info['started']}"
    except (OSError, ValueError, KeyError, AttributeError):
        return "holder unknown"
