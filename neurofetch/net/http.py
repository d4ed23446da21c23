"""The HTTP client factory and JSON fetching. Owns httpx: one client (one connection pool) per run. The httpx
names other layers need (types, transport errors) are re-exported here, so no module outside net/ imports httpx."""

from __future__ import annotations

import ssl
from typing import Any

import httpx
from httpx import (
    URL,
    AsyncBaseTransport,
    AsyncClient,
    Auth,
    ConnectError,
    ConnectTimeout,
    PoolTimeout,
    Response,
    TransportError,
)

from neurofetch.errors import AuthError, ForbiddenError, HttpStatusError, RemoteDataError, UnreachableError
from neurofetch.net import json_limits
from neurofetch.net.bandwidth import Bandwidth
from neurofetch.net.options import HttpOptions
from neurofetch.net.origins import OriginBoundClient
from neurofetch.net.retry import RetryableError, RetryPolicy, describe, retrying, status_error
from neurofetch.net.wire import AiohttpTransport
from neurofetch.urls import redact_url

__all__ = [
    "URL",
    "AsyncBaseTransport",
    "AsyncClient",
    "Auth",
    "ConnectError",
    "ConnectTimeout",
    "HttpOptions",
    "PoolTimeout",
    "Response",
    "TransportError",
    "get_json",
    "json_field",
    "make_client",
    "not_the_api",
    "parse_json",
    "policy_for",
    "raise_for_status",
    "server_message",
    "tls_setting",
]


def tls_setting(verify: bool | str) -> bool | ssl.SSLContext:
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    return verify


def make_client(
    options: HttpOptions,
    *,
    auth: httpx.Auth | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    extra_connections: int = 2,
) -> httpx.AsyncClient:
    """The run's client: pooled to the options' jobs, generous read timeout, redirects followed within
    one origin; across origins only as net/origins.py allows (no credential ever leaves its origin)."""
    connections = options.jobs + extra_connections
    verify = tls_setting(options.verify_tls)
    bandwidth = Bandwidth(options.bwlimit) if options.bwlimit else None  # one bucket for the whole run
    return OriginBoundClient(
        auth=auth,
        transport=transport or AiohttpTransport(verify=verify, max_connections=connections, bandwidth=bandwidth),
        verify=verify,  # for the transports httpx mounts for proxies named in the environment
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        timeout=httpx.Timeout(options.timeout, connect=min(30.0, options.timeout)),
        headers={"User-Agent": options.user_agent},
        follow_redirects=True,
    )


def policy_for(options: HttpOptions) -> RetryPolicy:
    return options.retry_policy()


def raise_for_status(response: httpx.Response, what: str) -> None:
    """Map an unsuccessful status to the right error: retryable, auth, or a failed item."""
    if response.is_success:
        return
    retryable = status_error(response, what)
    if retryable is not None:
        raise retryable
    if response.status_code == 403:
        raise ForbiddenError(f"{what}: access refused (HTTP 403{_server_says(response)})")
    if response.status_code == 401:
        raise AuthError(f"{what}: access refused (HTTP 401{_server_says(response)})")
    raise HttpStatusError(f"HTTP {response.status_code} for {what}{_server_says(response)}", response.status_code)


def not_the_api(exc: HttpStatusError) -> UnreachableError:
    """An error status where the service's API must answer (its first request, a root listing): the URL is
    not that API (a bare host, a wrong path), so the run stops as for a server that cannot be reached."""
    return UnreachableError(f"{exc}: not an answer of the service's API; check the URL")


def server_message(response: httpx.Response) -> str:
    """The server's own words from a JSON error body (NestJS puts them in ``message``, LORIS in ``error``,
    Django REST in ``detail``); empty when there are none or the body was streamed, not read."""
    try:
        body = json_limits.loads(response.content, "error answer")
    except (ValueError, RemoteDataError, httpx.ResponseNotRead):
        return ""
    if not isinstance(body, dict):
        return ""
    message = body.get("message") or body.get("error") or body.get("detail") or body.get("msg")
    if isinstance(message, list):
        message = "; ".join(str(m) for m in message)
    return str(message)[:300] if message else ""


def _server_says(response: httpx.Response) -> str:
    said = server_message(response)
    return f": {said}" if said else ""


def parse_json(response: httpx.Response, what: str) -> Any:
    """Decode a JSON body whatever its Content-Type (LORIS legacy serves JSON as text/html); JSON nested
    too deeply is refused, naming the URL."""
    try:
        return json_limits.loads(response.content, f"{what} ({redact_url(str(response.url))})")
    except ValueError:
        raise RemoteDataError(f"{what} did not answer JSON ({redact_url(str(response.url))})") from None


def json_field(body: Any, key: str, kind: type | tuple[type, ...], what: str, url: str | None = None) -> Any:
    """``body[key]`` if the answer has it with the right type; otherwise an error naming what (and where)."""
    if not isinstance(body, dict) or key not in body:
        raise RemoteDataError(f"{what}: the answer has no {key!r} field{_where(url)}")
    value = body[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise RemoteDataError(f"{what}: {key!r} has the wrong type ({type(value).__name__}){_where(url)}")
    return value


def _where(url: str | None) -> str:
    """The URL for a message, redacted (only when there is an error to tell: redacting costs ~30 µs)."""
    return f" ({redact_url(url)})" if url else ""


async def get_json(
    client: httpx.AsyncClient,
    url: str,
    policy: RetryPolicy,
    *,
    what: str | None = None,
    params: dict[str, Any] | None = None,
) -> Any:
    """GET a JSON document with retries; errors name what was asked for."""
    label = what or redact_url(url)

    async def attempt() -> Any:
        response = await client.get(url, params=params)
        raise_for_status(response, label)
        return parse_json(response, label)

    try:
        return await retrying(attempt, policy, label)
    except RetryableError as exc:
        raise UnreachableError(f"{label}: {exc} (gave up after {policy.attempts} attempts)") from None
    except httpx.TransportError as exc:
        raise UnreachableError(f"{label}: {describe(exc)}") from None
