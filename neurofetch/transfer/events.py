"""What the engine tells a reporter while it works; ``ui`` implements it, the engine never prints."""

from __future__ import annotations

from typing import Protocol


class Reporter(Protocol):
    def queued(self, files: int = 0, nbytes: int = 0) -> None:
        """More work became known (files found by a listing, bytes if known)."""

    def started(self, label: str, total: int | None) -> None:
        """A transfer began; ``total`` is its size when known."""

    def advanced(self, nbytes: int) -> None:
        """Bytes moved (downloaded or uploaded)."""

    def finished(self, label: str, outcome: str, nbytes: int = 0) -> None:
        """One item ended: ``downloaded``, ``skipped``, ``uploaded``, ``written``, ..."""

    def failed(self, label: str, error: str) -> None:
        """One item failed for good (after retries)."""

    def note(self, message: str) -> None:
        """A line worth showing now (e.g. re-login, a verification finding)."""

    def retrying(self, label: str, reason: str, attempt: int, wait: float) -> None:
        """Attempt ``attempt`` at ``label`` failed for ``reason``; the next one starts in ``wait`` seconds."""

    def close(self) -> None:
        """The run is over; stop any live display."""


class NullReporter:
    def queued(self, files: int = 0, nbytes: int = 0) -> None:
        pass

    def started(self, label: str, total: int | None) -> None:
        pass

    def advanced(self, nbytes: int) -> None:
        pass

    def finished(self, label: str, outcome: str, nbytes: int = 0) -> None:
        pass

    def failed(self, label: str, error: str) -> None:
        pass

    def note(self, message: str) -> None:
        pass

    def retrying(self, label: str, reason: str, attempt: int, wait: float) -> None:
        pass

    def close(self) -> None:
        pass
