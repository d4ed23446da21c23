"""The destination lock: one writer per tree; released by the kernel when a run dies."""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from neurofetch.errors import DestinationError, LockedError
from neurofetch.transfer.journal import state_dir

POLL_SECONDS = 0.2
FOREVER = math.inf


@dataclass(frozen=True)
class LockWait:
    """How long a run waits for another run's lock (``FOREVER``: as long as it takes), and whom it tells once."""

    seconds: float
    announce: Callable[[str], None]

    @staticmethod
    def of(seconds: float | None, announce: Callable[[str], None]) -> LockWait | None:
        """None (exit 4 at once) unless the run was told to wait (--wait, NEUROFETCH_WAIT, the profile's wait)."""
        return None if seconds is None else LockWait(seconds, announce)


def parse_wait(text: str) -> float:
    """``--wait`` / NEUROFETCH_WAIT: seconds (``30``, ``1.5``), or ``forever``/``inf``/empty for no limit."""
    text = text.strip().lower()
    if text in ("", "forever", "inf"):
        return FOREVER
    try:
        seconds = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number of seconds") from None
    if math.isnan(seconds) or seconds < 0:
        raise ValueError(f"{text!r} is not a number of seconds")
    return seconds


class DestinationLock:
    """An exclusive, non-blocking lock on ``DEST/.neurofetch/lock`` (flock; msvcrt on Windows).

    The file records who holds it, so a second run can name the first. A lock left by a killed
    run is no obstacle: the kernel released it with the process. A shard's lock (``name``) is taken
    ``within`` the whole tree's lock, held shared: shards work side by side, but never beside a run
    over the whole tree, which holds that lock exclusively (not on Windows, which has no shared locks).
    """

    def __init__(
        self, dest: Path, name: str = "lock", *, within: str | None = None, wait: LockWait | None = None
    ) -> None:
        self.path = state_dir(dest) / name
        self.tree_path = state_dir(dest) / within if within else None
        self._fd: int | None = None
        self._tree_fd: int | None = None
        self._wait = wait
        self._deadline = 0.0
        self._announced = False

    def acquire(self) -> DestinationLock:
        self._deadline = time.monotonic() + (self._wait.seconds if self._wait else 0.0)
        if self.tree_path is not None:
            self._tree_fd = self._take(self.tree_path, shared=True)
            with contextlib.suppress(OSError):  # whoever it names (a killed run) does not hold it now
                os.ftruncate(self._tree_fd, 0)
        try:
            fd = self._take(self.path, shared=False)
        except BaseException:
            self.release()
            raise
        holder = json.dumps({"pid": os.getpid(), "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}).encode()
        with contextlib.suppress(OSError):  # a full disk: the lock holds all the same, its holder unnamed
            os.ftruncate(fd, 0)
            os.write(fd, holder)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)  # no stale holder for the next run to name
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
        if _try_lock(fd, shared=shared):
            return fd
        try:
            with _interruptible():
                self._wait_for(fd, path, shared=shared)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _wait_for(self, fd: int, path: Path, *, shared: bool) -> None:
        """Until the lock is ours; LockedError when the run may not wait, or waited as long as it may."""
        while True:
            holder = _describe_holder(fd)
            if self._wait is None or time.monotonic() >= self._deadline:
                waited = f" after waiting {self._wait.seconds:g} s" if self._wait else ""
                raise LockedError(
                    f"another neurofetch run holds {path.parent.parent} ({holder}){waited}; "
                    "it will be free when that run ends"
                )
            if not self._announced:
                self._announced = True
                self._wait.announce(f"waiting for the run holding {path.parent.parent}'s lock ({holder})")
            time.sleep(max(0.0, min(POLL_SECONDS, self._deadline - time.monotonic())))
            if _try_lock(fd, shared=shared):
                return

    def __enter__(self) -> DestinationLock:
        return self.acquire()

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
    """Ctrl-C and SIGTERM end a wait at once, also inside an event loop, whose own handlers run only when it does."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            if handler is not None:
                signal.signal(sig, handler)


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
        if not text:  # the whole tree's lock, held shared
            return "runs with --shard are working in it"
        info = json.loads(text)
        return f"pid {info['pid']}, started {info['started']}"
    except (OSError, ValueError, KeyError, AttributeError):
        return "holder unknown"
