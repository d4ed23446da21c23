"""How every run is steered: signals, stop rules and failure accounting, one place for every engine.

- Ctrl-C and SIGTERM stop starting new work and mark the run interrupted (exit 130, with the summary
  and the ``--json`` document); the handlers that were there before are put back afterwards.
- A fatal error stops the run (the first one wins and is raised at the end); so do
  ``GIVE_UP_AFTER`` unreachable failures in a row, or as many refusals, before anything succeeded.
- A failed item goes into the result and to the reporter, together.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from neurofetch.errors import AuthError, UnreachableError
from neurofetch.net.retry import observe_retries
from neurofetch.transfer.events import Reporter
from neurofetch.transfer.results import RunResult

GIVE_UP_AFTER = 5  # consecutive unreachable failures (or refusals), with nothing done yet, that end the run
SIGNALS = (signal.SIGINT, signal.SIGTERM)
T = TypeVar("T")


@dataclass
class RunControl:
    """One per run. Safe to share between the event loop's tasks; ``fail`` also from worker threads."""

    result: RunResult
    reporter: Reporter
    successes: int = 0
    unreachable_streak: int = 0
    unreachable_failures: int = 0
    refusals: int = 0  # items refused with HTTP 403
    progressed: bool = False  # something below the root listings succeeded
    fatal: BaseException | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    interrupted: asyncio.Event = field(default_factory=asyncio.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _signals_held: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        observe_retries(self.retried)

    @property
    def stopping(self) -> bool:
        return self.stop.is_set()

    # -- stop rules -----------------------------------------------------------------------------------------------
    def interrupt(self) -> None:
        """Ctrl-C or SIGTERM: nothing new starts; the run ends with exit 130 and says what it did."""
        self.result.interrupted = True
        self.interrupted.set()
        self.stop.set()

    def halt(self, exc: BaseException) -> None:
        """Stop the run because of ``exc``; the first such error is the one raised at the end."""
        if self.fatal is None:
            self.fatal = exc
        self.stop.set()

    def cancel(self) -> None:
        """Nothing new starts, and nothing is recorded: an error already on its way up stops the run."""
        self.stop.set()

    def raise_fatal(self) -> None:
        if self.fatal is not None:
            raise self.fatal

    def succeeded(self, *, progressed: bool = True) -> None:
        with self._lock:
            self.successes += 1
            self.unreachable_streak = 0
            self.progressed = self.progressed or progressed

    @property
    def all_unreachable(self) -> bool:
        """Every failure so far was the service out of reach, and nothing succeeded: the run was unreachable."""
        with self._lock:
            return (
                self.successes == 0
                and self.unreachable_failures > 0
                and self.unreachable_failures == len(self.result.failures)
            )

    # -- failure accounting ---------------------------------------------------------------------------------------
    def fail(self, label: str, error: str) -> None:
        with self._lock:
            self.result.fail(label, error)
        self.reporter.failed(label, error)

    def retried(self, label: str, reason: str, attempt: int, wait: float) -> None:
        """A transient failure that is being retried: counted in the result (``retries``) and shown."""
        with self._lock:
            self.result.add("retries")
        self.reporter.retrying(label, reason, attempt, wait)

    def unreachable(self, label: str, error: str, *, nothing_done: str = "nothing was transferred") -> None:
        """One item failed because the service could not be reached; enough of them in a row, with
        nothing done yet, end the run (exit 5)."""
        self.fail(label, error)
        with self._lock:
            self.unreachable_failures += 1
            self.unreachable_streak += 1
            give_up = self.successes == 0 and self.unreachable_streak >= GIVE_UP_AFTER
        if give_up:
            self.result.unreachable = True
            self.halt(UnreachableError(f"the service keeps failing ({error}); {nothing_done}"))

    def refused(self, label: str, error: str) -> None:
        """One item refused (HTTP 403): the others go on, unless everything is refused from the start."""
        self.fail(label, error)
        self.refusals += 1
        if not self.progressed and self.refusals >= GIVE_UP_AFTER:
            self.halt(AuthError(f"the server refuses everything this account asks for ({error})"))

    # -- signals --------------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def signals(self) -> Iterator[None]:
        """Ctrl-C and SIGTERM call :meth:`interrupt` while inside; the previous handlers come back after.

        Inside a running event loop the loop gets the handlers. Without one (threaded engines), the
        handler also raises KeyboardInterrupt, so that a main thread blocked on a lock or a future wakes
        up. Nested use is allowed: only the outermost installs. Off the main thread, nothing is installed.
        """
        if self._signals_held or threading.current_thread() is not threading.main_thread():
            yield
            return
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        installed = _install(loop, self.interrupt)
        self._signals_held = True
        try:
            yield
        finally:
            self._signals_held = False
            _restore(loop, installed)

    async def guard(self, step: Awaitable[T]) -> T | None:
        """Run ``step`` until it ends or the run is interrupted; then it is cancelled, and None returned.

        For steps that are not a pool of items (publishing, adding to a project): the request in
        flight is abandoned, as a download in flight is; a re-run does it again, and these are idempotent.
        """
        task = asyncio.ensure_future(step)
        waiter = asyncio.create_task(self.interrupted.wait())
        try:
            await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if task.cancelled():
            return None
        return task.result()


def _install(loop: asyncio.AbstractEventLoop | None, interrupt: Callable[[], None]) -> dict[int, Any]:
    installed: dict[int, Any] = {}

    def raising(signum: int, frame: object) -> None:
        interrupt()
        raise KeyboardInterrupt

    for sig in SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError, OSError):
            previous = signal.getsignal(sig)
            if loop is not None:
                loop.add_signal_handler(sig, interrupt)
            else:
                signal.signal(sig, raising)
            installed[sig] = previous
    return installed


def _restore(loop: asyncio.AbstractEventLoop | None, installed: dict[int, Any]) -> None:
    for sig, previous in installed.items():
        if loop is not None:
            with contextlib.suppress(RuntimeError, ValueError):
                loop.remove_signal_handler(sig)
        with contextlib.suppress(TypeError, ValueError, OSError):
            signal.signal(sig, previous)  # asyncio would leave the default, not what was there before
