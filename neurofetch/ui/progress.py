"""Reporters: live bars on a terminal, one plain line every few seconds in logs, nothing with -q."""

from __future__ import annotations

import logging
import threading
import time

from neurofetch.environment import env_number
from neurofetch.ui.console import make_console, stderr_is_live_terminal
from neurofetch.ui.logs import mask
from neurofetch.ui.text import human_bytes, printable

log = logging.getLogger("neurofetch")


class Tally:
    """Counters shared by the reporters."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.known = 0
        self.done = 0
        self.skipped = 0
        self.failed = 0
        self.bytes = 0
        self.retries = 0
        self.started = time.monotonic()

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        total = f"/{self.known}" if self.known else ""
        retries = f", {self.retries} retries" if self.retries else ""
        return (f"{self.done + self.skipped}{total} files ({self.done} transferred, {self.skipped} skipped, "
                f"{self.failed} failed{retries}), {human_bytes(self.bytes)} at {human_bytes(self.bytes / elapsed)}/s")


class PlainReporter:
    """For logs and pipes: a progress line every ``interval`` seconds, failures as they happen."""

    def __init__(self, interval: float | None = None, verbose: bool = False) -> None:
        self.tally = Tally()
        self.verbose = verbose
        self.interval = interval if interval is not None else env_number("NEUROFETCH_PROGRESS_INTERVAL", 5.0,
                                                                         minimum=0.0)
        self._last = time.monotonic()
        self._console = make_console()

    def _maybe_print(self) -> None:
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            self._emit(f"progress: {self.tally.line()}")

    def _emit(self, text: str) -> None:
        text = printable(mask(text))
        self._console.print(text, markup=False, highlight=False)
        log.info(text)

    def queued(self, files: int = 0, nbytes: int = 0) -> None:
        self.tally.known += files

    def started(self, label: str, total: int | None) -> None:
        if self.verbose:
            log.debug("start %s", label)

    def advanced(self, nbytes: int) -> None:
        self.tally.bytes += nbytes
        self._maybe_print()

    def finished(self, label: str, outcome: str, nbytes: int = 0) -> None:
        if outcome == "skipped":
            self.tally.skipped += 1
        else:
            self.tally.done += 1
        if self.verbose:
            self._emit(f"{outcome}: {label}")
        self._maybe_print()

    def failed(self, label: str, error: str) -> None:
        self.tally.failed += 1
        self._emit(f"failed: {label}: {error}")

    def note(self, message: str) -> None:
        self._emit(message)

    def retrying(self, label: str, reason: str, attempt: int, wait: float) -> None:
        # The line itself is in the log (-v, --log-file); the display counts them.
        self.tally.retries += 1

    def close(self) -> None:
        pass


class QuietReporter(PlainReporter):
    """-q: errors only; they are in the closing summary, so nothing while running."""

    def _emit(self, text: str) -> None:
        log.info(printable(mask(text)))

    def _maybe_print(self) -> None:
        pass


class LiveReporter(PlainReporter):
    """On a terminal: rich bars for files and bytes."""

    def __init__(self, verbose: bool = False) -> None:
        super().__init__(interval=1e9, verbose=verbose)
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(), console=self._console, transient=False, refresh_per_second=4,
        )
        self._files = self._progress.add_task("files", total=None, rate="")
        self._progress.start()

    def _emit(self, text: str) -> None:
        text = printable(mask(text))
        self._progress.console.print(text, markup=False, highlight=False)
        log.info(text)

    def queued(self, files: int = 0, nbytes: int = 0) -> None:
        super().queued(files, nbytes)
        self._progress.update(self._files, total=self.tally.known or None)

    def advanced(self, nbytes: int) -> None:
        self.tally.bytes += nbytes
        now = time.monotonic()
        if now - self._last >= 0.25:
            self._last = now
            elapsed = max(now - self.tally.started, 1e-6)
            self._progress.update(self._files, rate=f"{human_bytes(self.tally.bytes)} "
                                                    f"{human_bytes(self.tally.bytes / elapsed)}/s")

    def finished(self, label: str, outcome: str, nbytes: int = 0) -> None:
        super().finished(label, outcome, nbytes)
        self._progress.update(self._files, completed=self.tally.done + self.tally.skipped)

    def retrying(self, label: str, reason: str, attempt: int, wait: float) -> None:
        super().retrying(label, reason, attempt, wait)
        self._progress.update(self._files, description=f"files ({self.tally.retries} retries)")

    def close(self) -> None:
        self._progress.stop()


def make_reporter(*, quiet: bool, verbose: bool, json_mode: bool) -> PlainReporter:
    if quiet:
        return QuietReporter()
    if stderr_is_live_terminal() and not json_mode:
        return LiveReporter(verbose=verbose)
    return PlainReporter(verbose=verbose)
