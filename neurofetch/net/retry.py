"""The one retry policy: which failures are worth another attempt and how long to wait. Owns tenacity."""

from __future__ import annotations

import email.utils
import logging
import random
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TypeVar

import httpx

T = TypeVar("T")
RetryObserver = Callable[[str, str, int, float], None]

log = logging.getLogger("neurofetch.net")
_observer: ContextVar[RetryObserver | None] = ContextVar("neurofetch_retry_observer", default=None)

# OpenSSL's reasons for a handshake answered by something that is not TLS (plain HTTP on that port)
NOT_TLS_REASONS = frozenset(
    {"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG", "UNKNOWN_PROTOCOL", "HTTP_REQUEST"}
)
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504, 507, 509, 520, 521, 522, 523, 524})


class RetryableError(Exception):
    """A failed attempt that another attempt may fix (5xx, 429, cut body, HTML page instead of a file).

    ``retry_after`` is the server's Retry-After in seconds: the next attempt waits at least that long
    (within the policy's caps). ``immediate`` marks a failure of our own making that the next attempt
    fixes at once (e.g. a stale ``.part`` that was just removed): no wait.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, immediate: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.immediate = immediate


class ProxyFailed(httpx.ConnectError):
    """The proxy named in the environment could not be reached or would not pass the request on, so
    nothing reached the server. The message names the proxy, never its credentials."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6  # first try plus retries
    base_wait: float = 0.5
    max_wait: float = 60.0  # cap of one wait, including Retry-After
    total_wait: float = 300.0  # cap of the sum of all waits for one item (not of transfer time)

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
        return RetryableError(
            f"HTTP {response.status_code} for {what}",
            retry_after=parse_retry_after(response.headers.get("retry-after")),
        )
    return None


def is_retryable(exc: BaseException) -> bool:
    """Server trouble and network trouble are; a name that does not resolve or a TLS failure never gets better
    by waiting, so those fail at once."""
    if isinstance(exc, ProxyFailed):
        return exc.retryable
    if isinstance(exc, httpx.TransportError):
        return connect_failure(exc) not in ("dns", "tls", "tls-cert", "no-tls")
    return isinstance(exc, RetryableError)


def connect_failure(exc: BaseException) -> str | None:
    """What kept a request from reaching the server, from the causes under ``exc``: ``dns``, ``refused``,
    ``tls-cert`` (the certificate did not verify), ``no-tls`` (the server answered without TLS), ``tls``."""
    tls = False
    for cause in _causes(exc):
        if isinstance(cause, socket.gaierror) or type(cause).__name__ == "ClientConnectorDNSError":
            return "dns"
        if isinstance(cause, ConnectionRefusedError):
            return "refused"
        if isinstance(cause, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(cause):
            return "tls-cert"
        if isinstance(cause, ssl.SSLError) and getattr(cause, "reason", None) in NOT_TLS_REASONS:
            return "no-tls"
        tls = tls or isinstance(cause, ssl.SSLError)  # a wrapper's own SSLError has no reason: look further
    return "tls" if tls else None


def tls_verification_failed(exc: BaseException) -> bool:
    """True when ``exc`` (or what caused it) is a failed TLS certificate verification."""
    return connect_failure(exc) == "tls-cert"


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def describe(exc: BaseException) -> str:
    """One line for a failure, with the origin it concerns, without URLs' query strings or any header."""
    if isinstance(exc, ProxyFailed):
        return str(exc)
    if not isinstance(exc, httpx.TransportError):
        return str(exc) or type(exc).__name__
    reason = _transport_reason(exc)
    origin = _origin_of(exc)
    return f"{reason} ({origin})" if origin else reason


def _transport_reason(exc: httpx.TransportError) -> str:
    failure = connect_failure(exc)
    if failure == "dns":
        host = _origin_of(exc, host_only=True)
        return f"the host name {host + ' ' if host else ''}does not resolve (DNS); check the URL"
    if failure == "refused":
        return "connection refused: nothing listens on that port; is the server running?"
    if failure == "tls-cert":
        return (
            "the server's TLS certificate did not verify (for a private CA, set verify_tls: /path/to/ca.pem "
            "in the profile)"
        )
    if failure == "no-tls":
        return "the server did not speak TLS (is the URL http://, not https://?)"
    if failure == "tls":
        reasons = [c.reason for c in _causes(exc) if isinstance(c, ssl.SSLError) and getattr(c, "reason", None)]
        return f"the TLS handshake failed ({reasons[-1] if reasons else 'no reason given'})"
    if isinstance(exc, httpx.ConnectTimeout):
        return "timed out connecting (no answer to the connection request)"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out waiting for the server to answer (the profile's timeout: sets how long)"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect ({_first_line(exc)})"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "connection closed mid-transfer"
    return f"network error ({type(exc).__name__})"


def _origin_of(exc: httpx.TransportError, *, host_only: bool = False) -> str | None:
    """The scheme, host and port of the request that failed (httpx attaches the request to its errors)."""
    try:
        url = exc.request.url
    except RuntimeError:
        return None
    if host_only:
        return url.host
    return f"{url.scheme}://{url.host}" + (f":{url.port}" if url.port else "")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def _wait_for(policy: RetryPolicy) -> Callable[[object], float]:
    """Jittered exponential backoff, at least the server's Retry-After, within the caps."""

    def wait(retry_state: object) -> float:
        outcome = retry_state.outcome  # type: ignore[attr-defined]
        exc = outcome.exception() if outcome is not None else None
        attempt = retry_state.attempt_number  # type: ignore[attr-defined]
        if isinstance(exc, RetryableError) and exc.immediate:
            return 0.0
        backoff = policy.base_wait * (2 ** (attempt - 1))
        seconds = random.uniform(0, backoff) + backoff / 2
        if isinstance(exc, RetryableError) and exc.retry_after is not None:
            seconds = max(seconds, exc.retry_after)
        budget = policy.total_wait - retry_state.idle_for  # type: ignore[attr-defined]
        return max(0.0, min(seconds, policy.max_wait, budget))

    return wait


def _stop_for(policy: RetryPolicy) -> Callable[[object], bool]:
    """Give up after the attempts, or once the waits used up the budget; time spent transferring
    does not count, so a long download cut late still gets its retries."""

    def stop(retry_state: object) -> bool:
        if retry_state.attempt_number >= max(1, policy.attempts):  # type: ignore[attr-defined]
            return True
        return retry_state.idle_for >= policy.total_wait  # type: ignore[attr-defined]

    return stop


def observe_retries(observer: RetryObserver) -> None:
    """From now on in this context (one command's run), each retry is also told to ``observer`` as
    ``(what, reason, attempt, wait)``: the run counts it and shows it."""
    _observer.set(observer)


def _announce(what: str) -> Callable[[object], None]:
    def before_sleep(retry_state: object) -> None:
        outcome = retry_state.outcome  # type: ignore[attr-defined]
        exc = outcome.exception() if outcome is not None else None
        action = retry_state.next_action  # type: ignore[attr-defined]
        wait = float(action.sleep) if action is not None else 0.0
        attempt = int(retry_state.attempt_number)  # type: ignore[attr-defined]
        reason = describe(exc) if exc is not None else "failed"
        log.info("retrying %s after attempt %d: %s (next in %.1f s)", what or "a request", attempt, reason, wait)
        observer = _observer.get()
        if observer is not None:
            observer(what, reason, attempt, wait)

    return before_sleep


async def retrying(call: Callable[[], Awaitable[T]], policy: RetryPolicy, what: str = "") -> T:
    """Run ``call`` until it succeeds, a non-retryable error occurs, or the policy gives up; each retry is
    logged (``-v``) and told to the run's observer. ``what`` names what is asked for, as the user knows it.

    The last error is re-raised as it is, so callers see what finally went wrong.
    """
    # Most calls succeed at once: the first attempt runs without tenacity's machinery (~60 µs of CPU a call).
    # A retryable failure of it is handed to tenacity as its attempt 1, so waits, limits and messages are as
    # for any other attempt.
    try:
        return await call()
    except BaseException as exc:
        if not is_retryable(exc):
            raise
        first_failure: BaseException | None = exc

    from tenacity import AsyncRetrying, retry_if_exception

    async for attempt in AsyncRetrying(
        stop=_stop_for(policy),
        wait=_wait_for(policy),
        retry=retry_if_exception(is_retryable),
        before_sleep=_announce(what),
        reraise=True,
    ):
        with attempt:
            if first_failure is not None:
                failure, first_failure = first_failure, None
                raise failure
            return await call()
    raise AssertionError("unreachable")  # pragma: no cover
