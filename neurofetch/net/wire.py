"""The wire under httpx: an httpx transport on aiohttp's connection pool and C HTTP parser.

httpx stays the client the rest of neurofetch speaks (auth flows, redirects, cookies, streaming, errors);
only sending requests and parsing responses move to aiohttp, which costs a fifth of httpcore's CPU per
request (docs/benchmarks.md §1). Bodies pass through raw: httpx decodes what it reads, and files are
stored as sent. aiohttp's errors come out as the httpx errors httpcore would raise for the same failure.
Proxies from the environment stay with httpx, which mounts its own transports for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Iterator

import aiohttp
import httpx
import yarl

# Bytes aiohttp buffers per connection before it stops reading the socket; large reads mean few trips
# through Python for a big file.
READ_BUFFER = 1 << 18


class AiohttpTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 with keep-alive, at most ``max_connections`` open at once."""

    def __init__(self, *, verify: bool | ssl.SSLContext = True, max_connections: int = 10,
                 keepalive_expiry: float = 5.0) -> None:
        self._verify = verify
        self._ssl: ssl.SSLContext | bool | None = None
        self._max_connections = max_connections
        self._keepalive_expiry = keepalive_expiry
        self._session: aiohttp.ClientSession | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session or self._open()
        timeout = request.extensions.get("timeout", {})
        with _as_httpx_errors():
            response = await session.request(
                request.method,
                yarl.URL(str(request.url), encoded=True),
                headers=list(request.headers.multi_items()),
                data=_body(request),
                allow_redirects=False,
                ssl=self._tls() if request.url.scheme == "https" else True,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=timeout.get("connect"),
                                              sock_read=timeout.get("read")),
                server_hostname=request.extensions.get("sni_hostname"),
            )
        return httpx.Response(
            status_code=response.status,
            headers=list(response.raw_headers),
            stream=_ResponseBody(response),
            extensions={"http_version": b"HTTP/1.1",
                        "reason_phrase": (response.reason or "").encode("ascii", "replace")},
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _open(self) -> aiohttp.ClientSession:
        # Created on first use: a session belongs to the event loop that is running then.
        connector = aiohttp.TCPConnector(limit=self._max_connections, limit_per_host=0,
                                         keepalive_timeout=self._keepalive_expiry)
        self._session = aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False,
            trust_env=False, read_bufsize=READ_BUFFER, timeout=aiohttp.ClientTimeout(total=None),
        )
        return self._session

    def _tls(self) -> ssl.SSLContext | bool:
        # Built on the first https request only: loading the CA bundle is a noticeable part of a short run.
        if self._ssl is None:
            self._ssl = self._verify if self._verify is not True else httpx.create_ssl_context()
        return self._ssl


class _ResponseBody(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_errors():
            async for chunk in self._response.content.iter_any():
                yield chunk

    async def aclose(self) -> None:
        # A connection whose body was not read to the end cannot carry the next request.
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()


def _body(request: httpx.Request) -> bytes | AsyncIterator[bytes] | None:
    try:
        return request.content or None
    except httpx.RequestNotRead:
        return _stream(request.stream)


async def _stream(stream: object) -> AsyncIterator[bytes]:
    async for chunk in stream:  # type: ignore[attr-defined]
        yield chunk


@contextlib.contextmanager
def _as_httpx_errors() -> Iterator[None]:
    try:
        yield
    except aiohttp.ConnectionTimeoutError as exc:
        raise httpx.ConnectTimeout(str(exc) or "connect timed out") from exc
    except (aiohttp.ServerTimeoutError, asyncio.TimeoutError) as exc:
        raise httpx.ReadTimeout(str(exc) or "read timed out") from exc
    except aiohttp.ClientConnectorError as exc:
        raise httpx.ConnectError(str(exc)) from exc
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientResponseError) as exc:
        raise httpx.RemoteProtocolError(str(exc) or type(exc).__name__) from exc
    except aiohttp.InvalidURL as exc:
        raise httpx.UnsupportedProtocol(str(exc)) from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise httpx.ReadError(str(exc) or type(exc).__name__) from exc
