"""The wire under httpx: an httpx transport on aiohttp's connection pool and C HTTP parser.

httpx stays the client the rest of neurofetch speaks (auth flows, redirects, cookies, streaming, errors);
only sending requests and parsing responses move to aiohttp, which costs a fifth of httpcore's CPU per
request (docs/benchmarks.md §1). Bodies pass through raw: httpx decodes what it reads, and files are
stored as sent. aiohttp's errors come out as the httpx errors httpcore would raise for the same failure.
Proxies come from the environment (proxies.py), read once per transport; aiohttp is handed the proxy of
each origin itself, never ``trust_env`` (which would also read ~/.netrc and attach its credentials).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
from collections.abc import AsyncIterator, Iterator

import aiohttp
import httpx
import yarl

from neurofetch.net.bandwidth import Bandwidth
from neurofetch.net.proxies import Proxy, ProxyEnvironment
from neurofetch.net.retry import ProxyFailed

# Bytes aiohttp buffers per connection before it stops reading the socket; large reads mean few trips
# through Python for a big file.
READ_BUFFER = 1 << 18
SEND_PIECE = 1 << 16  # under --bwlimit a request body goes out in pieces of this size, each paid for first


class AiohttpTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 with keep-alive, at most ``max_connections`` open at once; every body sent and received
    goes through ``bandwidth`` (--bwlimit) when one is given."""

    def __init__(
        self,
        *,
        verify: bool | ssl.SSLContext = True,
        max_connections: int = 10,
        keepalive_expiry: float = 5.0,
        bandwidth: Bandwidth | None = None,
    ) -> None:
        self._bandwidth = bandwidth
        self._verify = verify
        self._ssl: ssl.SSLContext | bool | None = None
        self._max_connections = max_connections
        self._keepalive_expiry = keepalive_expiry
        self._session: aiohttp.ClientSession | None = None
        self._proxies = ProxyEnvironment.from_environ()  # None without proxy variables: no work per request
        self._proxy_args: dict[Proxy, tuple[yarl.URL, dict[str, str] | None]] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session or self._open()
        timeout = request.extensions.get("timeout", {})
        url = request.url
        headers = list(request.headers.multi_items())
        proxy = self._proxies.proxy_for(url.scheme, url.host, url.port) if self._proxies is not None else None
        proxy_url, proxy_headers = None, None
        if proxy is not None:
            proxy_url, proxy_headers = self._proxy_arguments(proxy)
            if proxy_headers and url.scheme != "https":  # no CONNECT: the request itself goes to the proxy
                headers.extend(proxy_headers.items())
                proxy_headers = None
        with _as_httpx_errors(proxy, url):
            response = await session.request(
                request.method,
                yarl.URL(str(url), encoded=True),
                headers=headers,
                data=_body(request, self._bandwidth),
                allow_redirects=False,
                ssl=self._tls() if url.scheme == "https" else True,
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=timeout.get("connect"), sock_read=timeout.get("read")
                ),
                server_hostname=request.extensions.get("sni_hostname"),
                proxy=proxy_url,
                proxy_headers=proxy_headers,
            )
        if proxy is not None and response.status == 407:  # the proxy's answer to a plain-http request
            response.release()
            raise _proxy_refused(proxy, url, 407)
        return httpx.Response(
            status_code=response.status,
            headers=list(response.raw_headers),
            stream=_ResponseBody(response, self._bandwidth),
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": (response.reason or "").encode("ascii", "replace"),
            },
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _open(self) -> aiohttp.ClientSession:
        # Created on first use: a session belongs to the event loop that is running then.
        connector = aiohttp.TCPConnector(
            limit=self._max_connections, limit_per_host=0, keepalive_timeout=self._keepalive_expiry
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            trust_env=False,
            read_bufsize=READ_BUFFER,
            timeout=aiohttp.ClientTimeout(total=None),
        )
        return self._session

    def _proxy_arguments(self, proxy: Proxy) -> tuple[yarl.URL, dict[str, str] | None]:
        """The proxy's URL and, with credentials, its Proxy-Authorization header; built once per proxy."""
        if proxy not in self._proxy_args:
            basic = base64.b64encode(f"{proxy.username}:{proxy.password}".encode()).decode("ascii")
            self._proxy_args[proxy] = (
                yarl.URL(proxy.url),
                {"Proxy-Authorization": f"Basic {basic}"} if proxy.username else None,
            )
        return self._proxy_args[proxy]

    def _tls(self) -> ssl.SSLContext | bool:
        # Built on the first https request only: loading the CA bundle is a noticeable part of a short run.
        if self._ssl is None:
            self._ssl = self._verify if self._verify is not True else httpx.create_ssl_context()
        return self._ssl


class _ResponseBody(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse, bandwidth: Bandwidth | None) -> None:
        self._response = response
        self._bandwidth = bandwidth

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_errors():
            async for chunk in self._response.content.iter_any():
                if self._bandwidth is not None:  # the socket is not read while this waits: TCP slows the sender
                    await self._bandwidth.take(len(chunk))
                yield chunk

    async def aclose(self) -> None:
        # A connection whose body was not read to the end cannot carry the next request.
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()


def _body(request: httpx.Request, bandwidth: Bandwidth | None) -> bytes | AsyncIterator[bytes] | None:
    try:
        body: bytes | AsyncIterator[bytes] | None = request.content or None
    except httpx.RequestNotRead:
        # A followed redirect carries the stream of the request before it; one held in memory (an empty one
        # for a GET) is sent as bytes, not as a chunked body that a GET must not have.
        if isinstance(request.stream, httpx.ByteStream):
            body = b"".join(request.stream) or None
        else:
            body = _stream(request.stream)
    if body is None or bandwidth is None:
        return body
    return _paced(body, bandwidth)  # the request's Content-Length header still applies: no chunked encoding


async def _stream(stream: object) -> AsyncIterator[bytes]:
    async for chunk in stream:  # type: ignore[attr-defined]
        yield chunk


async def _paced(body: bytes | AsyncIterator[bytes], bandwidth: Bandwidth) -> AsyncIterator[bytes]:
    async def pieces(chunk: bytes) -> AsyncIterator[bytes]:
        view = memoryview(chunk)
        for start in range(0, len(view), SEND_PIECE):
            piece = view[start : start + SEND_PIECE]
            await bandwidth.take(len(piece))
            yield bytes(piece)

    if isinstance(body, bytes):
        async for piece in pieces(body):
            yield piece
        return
    async for chunk in body:
        async for piece in pieces(chunk):
            yield piece


def _proxy_refused(proxy: Proxy, url: httpx.URL, status: int) -> ProxyFailed:
    target = f"{url.host}:{url.port or (443 if url.scheme == 'https' else 80)}"
    if status == 407:
        why = (
            "refused the credentials in the proxy URL"
            if proxy.username
            else "asks for credentials: put them in the proxy URL (http://user:password@host:port)"
        )
        return ProxyFailed(f"the proxy {proxy} {why} (HTTP 407)", retryable=False)
    return ProxyFailed(
        f"the proxy {proxy} would not connect to {target} (HTTP {status})", retryable=status not in (400, 403, 405)
    )


@contextlib.contextmanager
def _as_httpx_errors(proxy: Proxy | None = None, url: httpx.URL | None = None) -> Iterator[None]:
    try:
        yield
    except aiohttp.ClientProxyConnectionError as exc:
        raise ProxyFailed(f"cannot connect to the proxy {proxy}") from exc
    except aiohttp.ClientHttpProxyError as exc:
        assert proxy is not None and url is not None
        raise _proxy_refused(proxy, url, exc.status) from exc
    except aiohttp.ConnectionTimeoutError as exc:
        if proxy is not None:
            raise ProxyFailed(f"connecting through the proxy {proxy} timed out") from exc
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
