"""Reporters: a live display on a terminal, one plain line every few seconds in logs, nothing with -q."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from neurofetch.environment import env_number
from neurofetch.ui.console import make_console, stderr_is_live_terminal
from neurofetch.ui.logs import mask
from neurofetch.ui.text import human_bytes, printable

if TYPE_CHECKING:
    from rich.console import RenderableType

    from neurofetch.transfer.results import RunResult

log = logging.getLogger("neurofetch")

BIG_FILE_BYTES = 50_000_000  # a transfer at least this big gets a line of its own on the live display
RATE_WINDOW = 5.0  # seconds of history behind the shown rate
NOT_TRANSFERS = ("skipped", "planned")
FILE_COUNTS = ("downloaded", "skipped", "to_download")  # the result's counts that are files of the listings


@dataclass
class InFlight:
    received: int = 0
    total: int | None = None
    started: float = 0.0


class Tally:
    """The counters every reporter shows: counted like the run's result, so the last frame equals the summary."""

    def __init__(self, bwlimit: int | None = None) -> None:
        self.lock = threading.Lock()
        self.bwlimit = bwlimit  # --bwlimit, bytes per second, shown beside the rate
        self.known = 0  # files found by the listings so far
        self.listing = True  # listings may still add files
        self.done = 0
        self.skipped = 0
        self.failed = 0
        self.bytes = 0  # bytes of finished transfers, as the result counts them
        self.retries = 0
        self.known_bytes = 0  # announced sizes of the files known so far
        self.unsized = 0  # known files whose size nobody announced yet
        self.loose = 0  # bytes moved without a label (their transfer's size arrives at the end)
        self.in_flight: dict[str, InFlight] = {}
        self.started = time.monotonic()

    def queued(self, files: int, nbytes: int) -> None:
        with self.lock:
            self.known += files
            self.known_bytes += nbytes
            if not nbytes:
                self.unsized += files  # their sizes come with each download's Content-Length

    def start(self, label: str, total: int | None) -> None:
        with self.lock:
            self.in_flight[label] = InFlight(total=total, started=time.monotonic())

    def size(self, label: str, total: int) -> None:
        with self.lock:
            flight = self.in_flight.setdefault(label, InFlight(started=time.monotonic()))
            if flight.total is None:
                flight.total = total
                self.known_bytes += total
                self.unsized = max(0, self.unsized - 1)

    def advance(self, nbytes: int, label: str | None) -> None:
        with self.lock:
            flight = self.in_flight.get(label) if label is not None else None
            if flight is None:
                self.loose += nbytes
            else:
                flight.received += nbytes

    def finish(self, label: str, outcome: str, nbytes: int) -> None:
        with self.lock:
            flight = self.in_flight.pop(label, None)
            if outcome in NOT_TRANSFERS:
                self.skipped += outcome == "skipped"
                self.done += outcome != "skipped"
                return
            self.done += 1
            self.bytes += nbytes
            if flight is None:
                self.loose = max(0, self.loose - nbytes)

    def fail(self, label: str) -> None:
        with self.lock:
            self.in_flight.pop(label, None)
            self.failed += 1

    def moved(self) -> int:
        """Bytes so far: finished transfers plus what arrived of those in flight."""
        with self.lock:
            return self.bytes + self.loose + sum(f.received for f in self.in_flight.values())

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        total = f"/{self.known}" if self.known else ""
        moved = self.moved()
        retries = f", {self.retries} retries" if self.retries else ""
        return (
            f"{self.done + self.skipped}{total} files ({self.done} transferred, {self.skipped} skipped, "
            f"{self.failed} failed{retries}), {human_bytes(moved)} at {human_bytes(moved / elapsed)}/s"
            f"{self.limit()}"
        )

    def limit(self) -> str:
        return f" (--bwlimit {human_bytes(self.bwlimit)}/s)" if self.bwlimit else ""


class PlainReporter:
    """For logs and pipes: a progress line every ``interval`` seconds, failures as they happen."""

    def __init__(self, interval: float | None = None, verbose: bool = False, bwlimit: int | None = None) -> None:
        self.tally = Tally(bwlimit)
        self.verbose = verbose
        self.interval = (
            interval if interval is not None else env_number("NEUROFETCH_PROGRESS_INTERVAL", 5.0, minimum=0.0)
        )
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
        self.tally.queued(files, nbytes)

    def started(self, label: str, total: int | None) -> None:
        self.tally.start(label, total)
        if self.verbose:
            log.debug("start %s", label)

    def advanced(self, nbytes: int, label: str | None = None) -> None:
        self.tally.advance(nbytes, label)
        self._maybe_print()

    def sized(self, label: str, total: int) -> None:
        self.tally.size(label, total)

    def listed(self) -> None:
        self.tally.listing = False

    def finished(self, label: str, outcome: str, nbytes: int = 0) -> None:
        self.tally.finish(label, outcome, nbytes)
        if self.verbose:
            self._emit(f"{outcome}: {label}")
        self._maybe_print()

    def failed(self, label: str, error: str) -> None:
        self.tally.fail(label)
        self._emit(f"failed: {label}: {error}")

    def note(self, message: str) -> None:
        self._emit(message)

    def retrying(self, label: str, reason: str, attempt: int, wait: float) -> None:
        # The line itself is in the log (-v, --log-file); the display counts them.
        with self.tally.lock:
            self.tally.retries += 1

    def ended(self, result: RunResult) -> None:
        pass

    def close(self) -> None:
        pass


class QuietReporter(PlainReporter):
    """-q: errors only; they are in the closing summary, so nothing while running."""

    def _emit(self, text: str) -> None:
        log.info(printable(mask(text)))

    def _maybe_print(self) -> None:
        pass


class LiveReporter(PlainReporter):
    """On a terminal: one status line, a line per big file in flight; messages print above it.

    The display starts with the first event, so nothing draws under a password prompt asked before the run.
    """

    def __init__(self, verbose: bool = False, bwlimit: int | None = None) -> None:
        super().__init__(interval=1e9, verbose=verbose, bwlimit=bwlimit)
        self.big_file = int(env_number("NEUROFETCH_PROGRESS_BIG_FILE", BIG_FILE_BYTES, minimum=0, unit="bytes"))
        self._live: object | None = None
        self._final: str | None = None
        self._shown_total = 0
        self._shown_bytes = 0
        self._samples: deque[tuple[float, int]] = deque()
        self._files: dict[str, deque[tuple[float, int]]] = {}

    # events ----------------------------------------------------------------------------------------------
    def _emit(self, text: str) -> None:
        text = printable(mask(text))
        self._ensure_live()
        self._console.print(text, markup=False, highlight=False)  # rich clears the display, prints, redraws
        log.info(text)

    def queued(self, files: int = 0, nbytes: int = 0) -> None:
        super().queued(files, nbytes)
        self._ensure_live()

    def started(self, label: str, total: int | None) -> None:
        super().started(label, total)
        self._ensure_live()

    def ended(self, result: RunResult) -> None:
        """The last frame: the result's own counts, bytes and seconds, the same the summary prints."""
        files = sum(result.counts.get(name, 0) for name in FILE_COUNTS)
        failed = f", {len(result.failures)} failed" if result.failures else ""
        self._final = (
            f"files {files}/{max(files, self._shown_total)}{failed}, "
            f"{human_bytes(result.bytes)} in {result.seconds:.1f} s"
        )

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()  # type: ignore[attr-defined]   # draws the last frame once more, then lets go
            self._live = None

    # drawing ---------------------------------------------------------------------------------------------
    def _ensure_live(self) -> None:
        if self._live is not None:
            return
        from rich.live import Live

        live = Live(
            console=self._console,
            refresh_per_second=4,
            transient=False,
            redirect_stdout=False,
            get_renderable=self._frame,
        )
        live.start()
        self._live = live

    def _frame(self) -> RenderableType:
        from rich.text import Text

        if self._final is not None:
            return Text(self._final)
        now = time.monotonic()
        tally = self.tally
        self._shown_total = max(self._shown_total, tally.known)
        self._shown_bytes = max(self._shown_bytes, tally.moved())
        rate = self._rate(self._samples, now, self._shown_bytes)
        listing = tally.listing
        files = f"files {tally.done + tally.skipped}/{'≥' if listing else ''}{self._shown_total}"
        if listing:
            files += ", listing…"
        parts = [files]
        if tally.failed:
            parts.append(f"{tally.failed} failed")
        if tally.retries:
            parts.append(f"{tally.retries} retries")
        total_bytes = tally.known_bytes
        exact = not listing and tally.unsized == 0 and total_bytes >= self._shown_bytes
        if total_bytes:
            bound = human_bytes(total_bytes) if exact else f"≥{human_bytes(max(total_bytes, self._shown_bytes))}"
            parts.append(f"{human_bytes(self._shown_bytes)}/{bound}")
        else:
            parts.append(human_bytes(self._shown_bytes))
        parts.append(f"{human_bytes(rate)}/s{tally.limit()}")
        if exact and rate > 0:
            parts.append(f"ETA {_clock((total_bytes - self._shown_bytes) / rate)}")
        parts.append(_clock(now - tally.started))
        lines = ["  ".join(parts)]
        with tally.lock:
            flights = [
                (label, f.received, f.total)
                for label, f in tally.in_flight.items()
                if max(f.total or 0, f.received) >= self.big_file
            ]
        for gone in self._files.keys() - {label for label, _, _ in flights}:
            del self._files[gone]
        for label, received, size in flights:
            history = self._files.setdefault(label, deque())
            of = f"/{human_bytes(size)}" if size else ""
            lines.append(
                f"  {printable(label)}  {human_bytes(received)}{of}  "
                f"{human_bytes(self._rate(history, now, received))}/s"
            )
        return Text("\n".join(lines), no_wrap=True, overflow="ellipsis")

    @staticmethod
    def _rate(history: deque[tuple[float, int]], now: float, moved: int) -> float:
        history.append((now, moved))
        while len(history) > 2 and now - history[0][0] > RATE_WINDOW:
            history.popleft()
        then, before = history[0]
        return (moved - before) / (now - then) if now - then > 0.2 else 0.0


def _clock(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def make_reporter(*, quiet: bool, verbose: bool, json_mode: bool, bwlimit: int | None = None) -> PlainReporter:
    """``json_mode`` does not matter: the JSON goes to stdout, the display to stderr."""
    if quiet:
        return QuietReporter()
    if stderr_is_live_terminal():
        return LiveReporter(verbose=verbose, bwlimit=bwlimit)
    return PlainReporter(verbose=verbose, bwlimit=bwlimit)


def progress_reporter(*, bwlimit: int | None = None) -> PlainReporter:
    """The display of a Python caller's run: live in a terminal and in Jupyter (rich draws it there), plain
    lines in a log."""
    from rich.console import Console

    if Console().is_jupyter:
        return LiveReporter(bwlimit=bwlimit)
    return make_reporter(quiet=False, verbose=False, json_mode=False, bwlimit=bwlimit)
