"""The one retry policy: which failures are worth another attempt and how long to wait. Owns tenacity."""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import httpx

T = TypeVar("T")

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504, 507, 509, 520, 521, 522, 523, 524})


class RetryableError(Exception):
    """A failed attempt that another attempt may fix (5xx, 429, cut body, HTML page instead of a file)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6            # first try plus retries
    base_wait: float = 0.5
    max_wait: float = 60.0       # cap of one wait, including Retry-After
    total_wait: float = 300.0    # cap of all waits for one item

    @classmethod
    def from_profile(cls, retries: int, retry_wait_max: float) -> RetryPolicy:
        return cls(attempts=retries + 1, max_wait=retry_wait_max, total_wait=max(retry_wait_max * 5, 1.0))


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP-date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def status_error(response: httpx.Response, what: str) -> RetryableError | None:
    """A RetryableError for statuses worth retrying, None for the rest."""
    if response.status_code in RETRYABLE_STATUS:
        return RetryableError(f"HTTP {response.status_code} for {what}",
                              retry_after=parse_retry_after(response.headers.get("retry-after")))
    return None


def is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, RetryableError | httpx.TransportError)


def describe(exc: BaseException) -> str:
    """One line for a failure, without URLs' query strings or any header."""
    if isinstance(exc, httpx.ConnectError):
        return "cannot connect"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "connection closed mid-transfer"
    if isinstance(exc, httpx.TransportError):
        return f"network error ({type(exc).__name__})"
    return str(exc) or type(exc).__name__


def _wait_for(policy: RetryPolicy) -> Callable[[object], float]:
    def wait(retry_state: object) -> float:
        outcome = retry_state.outcome  # type: ignore[attr-defined]
        exc = outcome.exception() if outcome is not None else None
        attempt = retry_state.attempt_number  # type: ignore[attr-defined]
        if isinstance(exc, RetryableError) and exc.retry_after is not None:
            return min(exc.retry_after, policy.max_wait)
        backoff = policy.base_wait * (2 ** (attempt - 1))
        return min(policy.max_wait, random.uniform(0, backoff) + backoff / 2)

    return wait


async def retrying(call: Callable[[], Awaitable[T]], policy: RetryPolicy) -> T:
    """Run ``call`` until it succeeds, a non-retryable error occurs, or the policy gives up.

    The last error is re-raised as it is, so callers see what finally went wrong.
    """
    from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, stop_after_delay

    async for attempt in AsyncRetrying(
        stop=stop_after_attempt(max(1, policy.attempts)) | stop_after_delay(policy.total_wait),
        wait=_wait_for(policy),
        retry=retry_if_exception(is_retryable),
        reraise=True,
    ):
        with attempt:
            return await call()
    raise AssertionError("unreachable")  # pragma: no cover
