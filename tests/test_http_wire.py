"""The HTTP layer every service uses (httpx over neurofetch/net/wire.py), against real servers on loopback:
what a server does on the wire comes out as the errors and data the rest of neurofetch expects."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from neurofetch.emulators.common import RunningServer
from neurofetch.errors import UnreachableError
from neurofetch.net.http import get_json, make_client, policy_for
from neurofetch.net.retry import RetryPolicy
from neurofetch.settings import Profile

NO_RETRIES = RetryPolicy(attempts=1)


def profile(url: str, **overrides: Any) -> Profile:
    return Profile(name="t", service="loris", url=url, **overrides)


def fetch(url: str, path: str, policy: RetryPolicy = NO_RETRIES, **overrides: Any) -> Any:
    async def go() -> Any:
        async with make_client(profile(url, **overrides).http) as client:
            return await get_json(client, url + path, policy)

    return asyncio.run(go())


@contextmanager
def serve(routes: list[Route]) -> Iterator[str]:
    server = RunningServer(Starlette(routes=routes)).start()
    try:
        yield server.origin
    finally:
        server.stop()


def test_cookies_a_server_sets_are_sent_back() -> None:
    async def login(request: Request) -> Response:
        response = JSONResponse({"ok": True})
        response.set_cookie("session", "s3cret-session")
        return response

    async def data(request: Request) -> Response:
        return JSONResponse({"session": request.cookies.get("session")})

    with serve([Route("/login", login), Route("/data", data)]) as url:

        async def go() -> Any:
            async with make_client(profile(url).http) as client:
                await get_json(client, url + "/login", NO_RETRIES)
                return await get_json(client, url + "/data", NO_RETRIES)

        assert asyncio.run(go()) == {"session": "s3cret-session"}


def test_a_body_cut_short_is_retried_and_then_read_whole() -> None:
    calls = []

    @contextmanager
    def raw_server() -> Iterator[str]:
        listener = socket.create_server(("127.0.0.1", 0))
        port = listener.getsockname()[1]

        def answer() -> None:
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                with conn:
                    conn.recv(65536)
                    calls.append(1)
                    body = b'{"answer": 42}'
                    if len(calls) == 1:  # announces 14 bytes, sends 5, hangs up
                        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\n" + body[:5])
                    else:
                        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 14\r\nConnection: close\r\n\r\n" + body)

        threading.Thread(target=answer, daemon=True).start()
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            listener.close()

    with raw_server() as url:
        with pytest.raises(UnreachableError, match="connection closed mid-transfer"):
            fetch(url, "/x")
        assert fetch(url, "/x", policy_for(profile(url, retries=2, retry_wait_max=0.01).http)) == {"answer": 42}


def test_a_refused_connection_says_cannot_connect() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(UnreachableError, match=r"connection refused: .* \(http://127\.0\.0\.1:\d+\)"):
        fetch(f"http://127.0.0.1:{port}", "/x")


def test_a_server_that_stops_answering_times_out() -> None:
    async def slow(request: Request) -> Response:
        await asyncio.sleep(5)
        return JSONResponse({})

    with serve([Route("/slow", slow)]) as url, pytest.raises(UnreachableError, match="timed out"):
        fetch(url, "/slow", timeout=0.3)


def test_compressed_bodies_are_decoded_for_json_and_kept_raw_for_files() -> None:
    import gzip

    packed = gzip.compress(b'{"compressed": true}')

    async def gz(request: Request) -> Response:
        return Response(packed, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})

    with serve([Route("/gz", gz)]) as url:
        assert fetch(url, "/gz") == {"compressed": True}

        async def raw() -> bytes:
            async with make_client(profile(url).http) as client, client.stream("GET", url + "/gz") as response:
                return b"".join([chunk async for chunk in response.aiter_raw()])

        assert asyncio.run(raw()) == packed


def test_the_transport_keeps_connections_within_the_jobs_limit() -> None:
    peers: set[tuple[str, int]] = set()

    async def where(request: Request) -> Response:
        assert request.client is not None
        peers.add((request.client.host, request.client.port))
        await asyncio.sleep(0.05)
        return JSONResponse({})

    with serve([Route("/w", where)]) as url:

        async def go() -> None:
            async with make_client(profile(url, jobs=3).http, extra_connections=0) as client:
                await asyncio.gather(*(get_json(client, url + "/w", NO_RETRIES) for _ in range(30)))

        asyncio.run(go())
    assert len(peers) == 3


def test_a_followed_redirect_sends_a_get_without_a_body() -> None:
    """A GET after a redirect carried an empty chunked body, which a proxy or a strict server may refuse."""
    seen: list[dict[str, str]] = []

    async def moved(request: Request) -> Response:
        return Response(status_code=302, headers={"location": "/there"})

    async def there(request: Request) -> Response:
        seen.append(dict(request.headers))
        return JSONResponse({"ok": True})

    with serve([Route("/here", moved), Route("/there", there)]) as url:
        assert fetch(url, "/here") == {"ok": True}
    assert len(seen) == 1
    assert "transfer-encoding" not in seen[0] and "content-type" not in seen[0]
    assert seen[0].get("content-length", "0") == "0"


def test_cookies_go_back_only_to_the_host_and_port_that_set_them() -> None:
    async def login(request: Request) -> Response:
        response = JSONResponse({"ok": True})
        response.set_cookie("session", "s3cret-session")
        return response

    async def data(request: Request) -> Response:
        return JSONResponse({"cookie": request.headers.get("cookie")})

    routes = [Route("/login", login), Route("/data", data)]
    with serve(routes) as first, serve(routes) as second:  # 127.0.0.1 both, another port

        async def go() -> Any:
            async with make_client(profile(first).http) as client:
                await get_json(client, first + "/login", NO_RETRIES)
                return [await get_json(client, url + "/data", NO_RETRIES) for url in (second, first)]

        assert asyncio.run(go()) == [{"cookie": None}, {"cookie": "session=s3cret-session"}]


def test_a_redirect_loop_ends_with_one_clear_error() -> None:
    async def loop(request: Request) -> Response:
        return Response(status_code=302, headers={"location": "/loop"})

    with (
        serve([Route("/loop", loop)]) as url,
        pytest.raises(UnreachableError, match=r"^http://127\.0\.0\.1:\d+ redirected more than 10 times"),
    ):
        fetch(url, "/loop")
