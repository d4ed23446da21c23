"""How every api function runs an engine: in the caller's thread when no event loop runs there (a script,
the CLI), else on a thread of its own with its own loop (Jupyter, IPython, an ``async def`` caller), so
``asyncio.run()`` never meets a running loop. Ctrl-C or a kernel interrupt stops that engine as a signal
stops it in a script: what is complete stays recorded, and the same call again resumes."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import ctypes
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from neurofetch.errors import Interrupted, UsageError

if TYPE_CHECKING:
    from neurofetch.settings import Profile
    from neurofetch.transfer.events import Reporter
    from neurofetch.transfer.results import RunResult

T = TypeVar("T")
POLL_SECONDS = 0.1
INTERRUPT_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def run_engine(
    call: Callable[[Reporter], RunResult],
    *,
    progress: bool = False,
    reporter: Reporter | None = None,
    bwlimit: int | None = None,
) -> RunResult:
    """``call(reporter)`` run where it is safe; an interrupted run raises Interrupted carrying its result."""
    from neurofetch.transfer.events import NullReporter, complete

    chosen: Reporter
    if reporter is not None:
        chosen = complete(reporter)
    elif progress:
        from neurofetch.ui.progress import progress_reporter

        chosen = progress_reporter(bwlimit=bwlimit)
    else:
        chosen = NullReporter()
    watcher = _LoopWatcher(chosen)
    try:
        result = outside_running_loop(lambda: call(watcher), watcher)
    except KeyboardInterrupt:
        raise Interrupted("interrupted; run the same command again to resume") from None
    if result.interrupted:
        error = Interrupted("interrupted; run the same command again to resume")
        error.result = result
        raise error
    return result


def outside_running_loop(call: Callable[[], T], watcher: _LoopWatcher | None = None) -> T:
    """``call()`` in this thread if no event loop runs in it, else on a worker thread (its own loop, a copy of
    this context); Ctrl-C while waiting is handed on to the worker as a KeyboardInterrupt."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return call()
    box: dict[str, Any] = {}
    done = threading.Event()
    context = contextvars.copy_context()

    def work() -> None:
        try:
            box["value"] = context.run(call)
        except BaseException as exc:  # raised again in the caller's thread
            box["error"] = exc
        finally:
            done.set()

    worker = threading.Thread(target=work, name="neurofetch-run", daemon=True)
    worker.start()
    asked = threading.Event()
    with _interrupts_to(asked):
        while True:
            try:
                if done.wait(POLL_SECONDS):
                    break
                if asked.is_set():
                    asked.clear()
                    _interrupt(worker, watcher)
            except KeyboardInterrupt:  # off the main thread's handlers: raised here by whoever interrupts
                _interrupt(worker, watcher)
    worker.join()
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value


@contextlib.contextmanager
def _interrupts_to(asked: threading.Event) -> Iterator[None]:
    """In the main thread, Ctrl-C and SIGTERM set ``asked`` while the worker runs (asyncio.run's own
    handler would only cancel a task of the waiting loop); the previous handlers come back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[signal.Signals, Any] = {}
    for sig in INTERRUPT_SIGNALS:
        with contextlib.suppress(ValueError, OSError):
            previous[sig] = signal.signal(sig, lambda signum, frame: asked.set())
    try:
        yield
    finally:
        for sig, handler in previous.items():
            with contextlib.suppress(TypeError, ValueError, OSError):
                signal.signal(sig, handler)


def _interrupt(worker: threading.Thread, watcher: _LoopWatcher | None) -> None:
    """Stop the worker's run as Ctrl-C stops a script's: a KeyboardInterrupt raised by its event loop between
    two callbacks (tasks are then cancelled at their awaits), or in the thread itself before a loop runs."""
    loop = watcher.loop if watcher is not None else None
    if loop is not None and not loop.is_closed():
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: the run is ending anyway
            loop.call_soon_threadsafe(_raise_interrupt)
            return
    if worker.ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(worker.ident), ctypes.py_object(KeyboardInterrupt))


def _raise_interrupt() -> None:
    raise KeyboardInterrupt


class _LoopWatcher:
    """A reporter that passes every event on and notes the event loop the engine runs on."""

    def __init__(self, inner: Reporter) -> None:
        self.inner = inner
        self.loop: asyncio.AbstractEventLoop | None = None

    def _seen(self) -> None:
        if self.loop is None:
            with contextlib.suppress(RuntimeError):
                self.loop = asyncio.get_running_loop()

    def queued(self, files: int = 0, nbytes: int = 0) -> None:
        self._seen()
        self.inner.queued(files, nbytes)

    def started(self, label: str, total: int | None) -> None:
        self._seen()
        self.inner.started(label, total)

    def advanced(self, nbytes: int, label: str | None = None) -> None:
        self._seen()
        self.inner.advanced(nbytes, label)

    def sized(self, label: str, total: int) -> None:
        self.inner.sized(label, total)

    def listed(self) -> None:
        self._seen()
        self.inner.listed()

    def finished(self, label: str, outcome: str, nbytes: int = 0) -> None:
        self._seen()
        self.inner.finished(label, outcome, nbytes)

    def failed(self, label: str, error: str) -> None:
        self._seen()
        self.inner.failed(label, error)

    def note(self, message: str) -> None:
        self.inner.note(message)

    def retrying(self, label: str, reason: str, attempt: int, wait: float) -> None:
        self._seen()
        self.inner.retrying(label, reason, attempt, wait)

    def ended(self, result: RunResult) -> None:
        self.inner.ended(result)

    def close(self) -> None:
        self.inner.close()


def choose_profile(
    profile: str | Profile | None,
    url: str | None,
    service: str | None,
    *,
    config: str | None = None,
    only_service: str | None = None,
    jobs: int | None = None,
    username: str | None = None,
    bwlimit: str | int | None = None,
    wait: str | float | None = None,
    segments: int | None = None,
) -> Profile:
    """The profile a call runs on (settings.select_profile): a Profile as given, a named one, or an ad-hoc
    ``url`` + ``service`` one; ``jobs``, ``username``, ``bwlimit``, ``wait`` and ``segments`` override what it
    says (``bwlimit="10M"``, ``wait=30`` or ``"forever"``)."""
    import dataclasses

    from neurofetch.settings import GlobalOptions, Profile, select_profile
    from neurofetch.transfer.limits import given_limits

    if not isinstance(profile, Profile):
        profile = select_profile(
            GlobalOptions(config=config, profile=profile, url=url, service=service), only_service=only_service
        )
    if jobs is not None:
        profile = dataclasses.replace(profile, jobs=jobs)
    if username is not None:
        profile = dataclasses.replace(profile, username=username)
    limits = given_limits(bwlimit=bwlimit, wait=wait, segments=segments)
    if limits:
        profile = dataclasses.replace(profile, **limits)
    return profile


def one_service_profile(
    command: str,
    service: str,
    profile: str | Profile | None,
    url: str | None,
    *,
    config: str | None = None,
    jobs: int | None = None,
    bwlimit: str | int | None = None,
    wait: str | float | None = None,
    segments: int | None = None,
) -> Profile:
    """The profile of a command that speaks one service: a bare ``url`` is that service's server, nothing chosen
    picks its only profile (or its public server), and a profile of another service is a usage error."""
    chosen = choose_profile(
        profile,
        url,
        service if url else None,
        config=config,
        only_service=service,
        jobs=jobs,
        bwlimit=bwlimit,
        wait=wait,
        segments=segments,
    )
    if chosen.service != service:
        article = "an" if service[0] in "aeiou" else "a"
        raise UsageError(
            f"{command} needs {article} {service} profile; profile {chosen.name!r} is a {chosen.service} profile"
        )
    return chosen


def given_secret(value: str | None) -> Any:
    """A secret passed as an argument: masked in every line shown from now on, never stored by itself."""
    if value is None:
        return None
    from neurofetch.credentials import Secret
    from neurofetch.ui.logs import register_secret

    register_secret(value)
    return Secret(value, source="argument")


def names(values: Sequence[str] | str | None) -> tuple[str, ...]:
    """A list option given as one string or a sequence."""
    if values is None:
        return ()
    return (values,) if isinstance(values, str) else tuple(str(v) for v in values)
