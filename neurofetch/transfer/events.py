"""What the engine tells a reporter while it works; ``ui`` implements it, the engine never prints."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from neurofetch.transfer.results import RunResult


class Reporter(Protocol):
    def queued(self, files: int = 0, nbytes: int = 0) -> None:
        """More work became known (files found by a listing, bytes if known)."""

    def started(self, label: str, total: int | None) -> None:
        """A transfer began; ``total`` is its size when known."""

    def advanced(self, nbytes: int, label: str | None = None) -> None:
        """Bytes moved (downloaded or uploaded), for the transfer ``label`` when the caller knows it."""

    def sized(self, label: str, total: int) -> None:
        """The server announced the full size of a transfer in flight (Content-Length)."""

    def listed(self) -> None:
        """Every listing is done: the number of files is final from now on."""

    def finished(self, label: str, outcome: str, nbytes: int = 0) -> None:
        """One item ended: ``downloaded``, ``skipped``, ``uploaded``, ``written``, ..."""

    def failed(self, label: str, error: str) -> None:
        """One item failed for good (after retries)."""

    def note(self, message: str) -> None:
        """A line worth showing now (e.g. re-login, a verification finding)."""

    def retrying(self, label: str, reason: str, attempt: int, wait: float) -> None:
        """Attempt ``attempt`` at ``label`` failed for ``reason``; the next one starts in ``wait`` seconds."""

    def ended(self, result: RunResult) -> None:
        """The run's result, just before ``close``: a live display's last frame shows these counts."""

    def close(self) -> None:
        """The run is over; stop any live display."""


class NullReporter:
    def queued(self, files: int = 0, nbytes: int = 0) -> None:
        pass

    def started(self, label: str, total: int | None) -> None:
        pass

    def advanced(self, nbytes: int, label: str | None = None) -> None:
        pass

    def sized(self, label: str, total: int) -> None:
        pass

    def listed(self) -> None:
        pass

    def finished(self, label: str, outcome: str, nbytes: int = 0) -> None:
        pass

    def failed(self, label: str, error: str) -> None:
        pass

    def note(self, message: str) -> None:
        pass

    def retrying(self, label: str, reason: str, attempt: int, wait: float) -> None:
        pass

    def ended(self, result: RunResult) -> None:
        pass

    def close(self) -> None:
        pass


class _Completed:
    """A reporter written before ``sized``, ``listed``, ``retrying``, ``ended`` and the label of ``advanced``:
    what it lacks does nothing, what it has is called as it expects."""

    def __init__(self, inner: object) -> None:
        self._inner = inner
        self._labelled = _takes_label(getattr(inner, "advanced", None))

    def __getattr__(self, name: str) -> object:
        found = getattr(self._inner, name, None)
        if found is None and hasattr(NullReporter, name):
            return getattr(NullReporter(), name)
        if found is None:
            raise AttributeError(name)
        return found

    def advanced(self, nbytes: int, label: str | None = None) -> None:
        if self._labelled:
            self._inner.advanced(nbytes, label)  # type: ignore[attr-defined]
        else:
            self._inner.advanced(nbytes)  # type: ignore[attr-defined]


def _takes_label(method: object) -> bool:
    import inspect

    try:
        return len(inspect.signature(method).parameters) >= 2  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def complete(reporter: object | None) -> Reporter:
    """``reporter`` able to take every event of this protocol; a NullReporter for None."""
    if reporter is None:
        return NullReporter()
    missing = [n for n in ("sized", "listed", "retrying", "ended") if not hasattr(reporter, n)]
    if missing or not _takes_label(getattr(reporter, "advanced", None)):
        return _Completed(reporter)  # type: ignore[return-value]
    return reporter  # type: ignore[return-value]
