"""Shared machinery for the service emulators: fault injection, request log, serving on loopback.

Every emulator is a starlette app wrapped by :class:`FaultMiddleware`; tests start it with
:func:`serve_in_thread` on port 0 and read :class:`RequestLog` to prove what a client asked for.
"""

from __future__ import annotations

import asyncio
import email.utils
import itertools
import random
import socket
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field, fields
from typing import Any

Scope = MutableMapping[str, Any]  # as ASGI servers and Starlette type it
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

FILE_RESPONSE_HEADER = b"x-emulator-file"
"""An app marks a response as file content with this header; only those get body faults.
The middleware strips it before the response leaves."""


@dataclass
class Faults:
    """Fault knobs, all off by default. Rates are fractions of eligible requests (0..1).

    ``neurofetch emulate SERVICE --faults "latency=0.02,error_rate=0.1"`` parses into this.
    """

    latency: float = 0.0  # seconds added before every response
    error_rate: float = 0.0  # fraction answered 503 with Retry-After
    rate_limit_rate: float = 0.0  # fraction answered 429 with Retry-After
    retry_after: float = 0.0  # value of Retry-After on 503/429 (seconds)
    retry_after_date: bool = False  # send that Retry-After as an HTTP-date (now + retry_after) instead of seconds
    html_outage: float = 0.0  # fraction answered 502/503/504 with a proxy's HTML page and no Retry-After
    #                               (API and file requests alike: what an Apache/nginx front shows in an outage)
    truncate_rate: float = 0.0  # fraction of file bodies cut short (connection closed early)
    reset_rate: float = 0.0  # fraction of file bodies aborted mid-way (connection reset)
    drip: float = 0.0  # bytes per second for file bodies (0 = full speed)
    conn_rate: float = 0.0  # bytes per second each connection sends file bodies at, like a WAN link's cap
    token_expiry_after: int = 0  # services with tokens: invalidate a token after N uses (0 = never)
    html_rate: float = 0.0  # fraction of file responses replaced by a 200 text/html proxy page
    missing_files: int = 0  # this many listed files are broken (LORIS: 500, empty body; others: 404)
    range_support: bool = False  # serve 206 for Range requests on files
    hostile_names: bool = False  # dataset includes names that try to escape the destination
    duplicate_entries: bool = False  # listings name each entry twice (LORIS: candidates, visits, files; Datamint)
    ignore_offset: bool = False  # paged listings start at the first row whatever was asked (NeuroVault's ``next``
    #                               still moves on; Datamint ``offset``, Allen ``start_row``)
    claimed_total: int = 0  # paged listings announce this many rows (NeuroVault ``count``, Allen ``total_rows``,
    #                               Datamint ``totalCount``)
    page_rows: int = 0  # at most this many rows per page (NeuroVault, Allen, Datamint; 0 = the usual cap)
    seed: int = 0  # randomness is reproducible

    @classmethod
    def parse(cls, text: str | None) -> Faults:
        """Parse ``key=value,key=value``; unknown keys or bad values raise ValueError."""
        faults = cls()
        if not text:
            return faults
        kinds = {f.name: f.type for f in fields(cls)}
        for part in text.split(","):
            part = part.strip()
            if not part:
                continue
            key, _, raw = part.partition("=")
            key = key.strip().replace("-", "_")
            if key not in kinds:
                raise ValueError(f"unknown fault {key!r}; known: {', '.join(sorted(kinds))}")
            kind = kinds[key]
            if kind == "bool":
                value: Any = raw.strip().lower() in ("", "1", "true", "yes", "on")
            elif kind == "int":
                value = int(raw)
            else:
                value = float(raw)
            setattr(faults, key, value)
        return faults


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    query: str = ""


class RequestLog:
    """Thread-safe record of every request the emulator answered."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[LoggedRequest] = []

    def add(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def count(self, predicate: Callable[[LoggedRequest], bool] = lambda _e: True) -> int:
        return sum(1 for e in self.entries() if predicate(e))


class FaultMiddleware:
    """Logs requests and injects the faults of a :class:`Faults` into an ASGI app."""

    def __init__(self, app: ASGIApp, faults: Faults, log: RequestLog) -> None:
        self.app = app
        self.faults = faults
        self.log = log
        self._random = random.Random(faults.seed)
        self._lock = threading.Lock()
        self._outage_statuses = itertools.cycle(sorted(OUTAGE_PAGES))

    def _roll(self, rate: float) -> bool:
        if rate <= 0:
            return False
        with self._lock:
            return self._random.random() < rate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        faults = self.faults
        method = scope["method"]
        path = scope["path"]
        query = scope.get("query_string", b"").decode("latin-1")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if faults.latency:
            await asyncio.sleep(faults.latency)
        for rate, status in ((faults.error_rate, 503), (faults.rate_limit_rate, 429)):
            if self._roll(rate):
                self.log.add(LoggedRequest(method, path, status, headers, query))
                retry_after = (
                    email.utils.formatdate(time.time() + faults.retry_after, usegmt=True)
                    if faults.retry_after_date
                    else f"{faults.retry_after:g}"
                )
                await _send_simple(
                    send, status, b'{"error":"try again later"}', [(b"retry-after", retry_after.encode())]
                )
                return
        if self._roll(faults.html_outage):
            with self._lock:
                status = next(self._outage_statuses)
            self.log.add(LoggedRequest(method, path, status, headers, query))
            await _send_simple(send, status, OUTAGE_PAGES[status], [], content_type=b"text/html")
            return
        state: dict[str, Any] = {"status": 0, "file": False, "sent": 0, "limit": None, "reset": False, "html": False}

        async def faulty_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                raw_headers = list(message.get("headers", []))
                state["file"] = any(k.lower() == FILE_RESPONSE_HEADER for k, _ in raw_headers)
                message["headers"] = [(k, v) for k, v in raw_headers if k.lower() != FILE_RESPONSE_HEADER]
                self.log.add(LoggedRequest(method, path, message["status"], headers, query))
                if state["file"] and self._roll(faults.html_rate):
                    # What a misbehaving proxy does: a 200 with an HTML page where a file was expected.
                    state["html"] = True
                    await _send_simple(send, 200, PROXY_ERROR_PAGE, [], content_type=b"text/html; charset=utf-8")
                    return
                if state["file"]:
                    length = next((int(v) for k, v in raw_headers if k.lower() == b"content-length"), None)
                    if length and self._roll(faults.truncate_rate):
                        state["limit"] = length // 2
                    elif length and self._roll(faults.reset_rate):
                        state["limit"], state["reset"] = length // 3, True
                await send(message)
                return
            if state["html"]:
                return
            if message["type"] == "http.response.body" and state["file"]:
                await self._send_file_chunk(message, state, send)
                return
            await send(message)

        await self.app(scope, receive, faulty_send)

    async def _send_file_chunk(self, message: Message, state: dict[str, Any], send: Send) -> None:
        body: bytes = message.get("body", b"")
        limit = state["limit"]
        if limit is not None and state["sent"] + len(body) >= limit:
            body = body[: max(0, limit - state["sent"])]
            if body:
                await send({"type": "http.response.body", "body": body, "more_body": True})
            # Closing before Content-Length bytes makes the server drop the connection: the
            # client sees a short body (truncation) or a reset, never a complete file.
            raise ConnectionAbortedError("emulated truncated body" if not state["reset"] else "emulated reset")
        if self.faults.drip > 0 and body:
            step = max(1, int(self.faults.drip / 10))
            for offset in range(0, len(body), step):
                await send({"type": "http.response.body", "body": body[offset : offset + step], "more_body": True})
                await asyncio.sleep(step / self.faults.drip)
            state["sent"] += len(body)
            if not message.get("more_body", False):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        if self.faults.conn_rate > 0 and body:
            # One response at a time per connection: pacing each body caps each connection's rate.
            rate = self.faults.conn_rate
            began = state.setdefault("began", time.monotonic() - state["sent"] / rate)
            step = max(16384, int(rate / 20))
            for offset in range(0, len(body), step):
                piece = body[offset : offset + step]
                await send({"type": "http.response.body", "body": piece, "more_body": True})
                state["sent"] += len(piece)
                await asyncio.sleep(max(0.0, began + state["sent"] / rate - time.monotonic()))
            if not message.get("more_body", False):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        state["sent"] += len(body)
        await send({**message, "body": body})


OUTAGE_PAGES = {  # as nginx (502, 504) and Apache httpd (503) word them
    502: b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1>"
    b"</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
    503: b'<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n<html><head>\n<title>503 Service Unavailable</title>\n'
    b"</head><body>\n<h1>Service Unavailable</h1>\n<p>The server is temporarily unable to service your\n"
    b"request due to maintenance downtime or capacity\nproblems. Please try again later.</p>\n</body></html>\n",
    504: b"<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n<center><h1>504 Gateway Time-out"
    b"</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
}

PROXY_ERROR_PAGE = (
    b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
    b"<body><h1>Bad Gateway</h1><p>The proxy server received an invalid response.</p></body></html>"
)


async def _send_simple(
    send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]], content_type: bytes = b"application/json"
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *extra],
        }
    )
    await send({"type": "http.response.body", "body": body})


@dataclass
class TLSFiles:
    certfile: str
    keyfile: str


class RunningServer:
    """An emulator served by uvicorn in a background thread on 127.0.0.1."""

    def __init__(self, app: ASGIApp, *, port: int = 0, tls: TLSFiles | None = None) -> None:
        import uvicorn

        # IPPROTO_TCP explicitly: asyncio turns off Nagle only on sockets created with it, and without
        # that every answer waits ~40 ms for the peer's delayed ACK.
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", port))
        self.port: int = self._sock.getsockname()[1]
        scheme = "https" if tls else "http"
        self.origin = f"{scheme}://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app,
            log_level="critical",
            lifespan="off",
            access_log=False,
            timeout_keep_alive=30,
            timeout_graceful_shutdown=1,  # a dripping body to a client that left must not hold stop() up
            ssl_certfile=tls.certfile if tls else None,
            ssl_keyfile=tls.keyfile if tls else None,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name=f"emulator:{self.port}", daemon=True)

    def _run(self) -> None:
        self._server.run(sockets=[self._sock])

    def start(self) -> RunningServer:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("emulator did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> RunningServer:
        if not self._thread.is_alive():
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_forever(app: ASGIApp, *, port: int, announce: Callable[[int], None]) -> None:
    """Run an emulator in the foreground until Ctrl-C; ``announce(port)`` is called once bound.
    A port that cannot be bound (in use, privileged) is a usage error: the user chose it."""
    from neurofetch.errors import UsageError

    try:
        server = RunningServer(app, port=port).start()
    except OSError as exc:
        raise UsageError(
            f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}; choose another --port (0 picks a free one)"
        ) from None
    announce(server.port)
    try:
        while server._thread.is_alive():
            server._thread.join(timeout=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


class Emulator:
    """Base of every service emulator: an ASGI app behind fault injection and a request log.

    Subclasses build their starlette app in ``build_app()`` and set ``base_path`` (the path a
    client profile's URL ends with, e.g. ``/api/v0.0.3-dev`` for LORIS, ``""`` elsewhere).
    """

    base_path: str = ""

    def __init__(self, *, faults: Faults | None = None) -> None:
        self.faults = faults or Faults()
        self.log = RequestLog()
        self._app: ASGIApp | None = None

    def build_app(self) -> ASGIApp:
        raise NotImplementedError

    @property
    def app(self) -> ASGIApp:
        if self._app is None:
            self._app = FaultMiddleware(self.build_app(), self.faults, self.log)
        return self._app

    def serve(self, *, port: int = 0, tls: TLSFiles | None = None) -> RunningServer:
        """Start on 127.0.0.1 in a background thread; use as a context manager or call ``stop()``."""
        return RunningServer(self.app, port=port, tls=tls).start()

    def base_url(self, server: RunningServer) -> str:
        return server.origin + self.base_path
