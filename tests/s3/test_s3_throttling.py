"""S3 behind a front that throttles: every request of the first seconds is answered 503 SlowDown or 429 with
a Retry-After HTTP-date, as S3 itself and the proxies before S3-compatible stores do. Each S3 client neurofetch
uses (the lean listing, botocore, obstore) must wait that out: the run completes, byte-exact."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from neurofetch.emulators.common import LoggedRequest, Receive, RequestLog, RunningServer, Scope, Send
from tests.catalog_support import jsonl_rows
from tests.helpers import request_body, run_cli
from tests.s3.fronts import FILES, ReverseProxy, sync_down
from tests.s3.helpers import S3Env, make_tree, read_tree

SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)
Aim = Callable[[str, str, str], bool]  # method, path, query: is this request throttled?
PAGES = {  # what a front answers while it throttles: S3's own SlowDown, or a proxy's page
    "503-slowdown": (503, b"application/xml", SLOW_DOWN),
    "503-html": (503, b"text/html", b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"),
    "429-html": (429, b"text/html", b"<html><body><h1>429 Too Many Requests</h1></body></html>"),
}


class ThrottlingFront:
    """Answers the requests ``aimed`` at with ``status`` and ``Retry-After: <HTTP-date>`` until ``seconds`` after
    the first of them, and passes everything else on to the S3 server."""

    def __init__(self, upstream: ReverseProxy, page: str, seconds: float, aimed: Aim, log: RequestLog) -> None:
        self.upstream, self.page, self.seconds, self.aimed, self.log = upstream, PAGES[page], seconds, aimed, log
        self.until: float | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        now = time.time()
        if not self.aimed(scope["method"], scope["path"], scope["query_string"].decode()):
            await self.upstream(scope, receive, send)
            return
        self.until = self.until or now + self.seconds
        if now >= self.until:
            await self.upstream(scope, receive, send)
            return
        status, kind, body = self.page
        self.log.add(LoggedRequest(scope["method"], scope["path"], status))
        # Read the request's body first, as S3 and nginx do: left unread on a kept-alive connection, its bytes
        # would be taken for the next request (a 400 from this test server, not a throttle).
        await request_body(receive)
        # An HTTP-date has whole seconds: round up so the date is never before the end of the outage.
        retry_at = email.utils.formatdate(int(self.until) + 1, usegmt=True).encode()
        headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode()), (b"retry-after", retry_at)]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@contextmanager
def throttled(s3: S3Env, page: str, aimed: Aim, seconds: float = 4.0) -> Iterator[tuple[str, RequestLog]]:
    """``seconds``: longer than botocore's and obstore's own backoff would wait in all."""
    log = RequestLog()
    server = RunningServer(ThrottlingFront(ReverseProxy(s3.endpoint), page, seconds, aimed, log)).start()
    try:
        yield server.origin, log
    finally:
        server.stop()


def listings(method: str, path: str, query: str) -> bool:
    return method == "GET" and "list-type=2" in query


def object_reads(method: str, path: str, query: str) -> bool:
    return method == "GET" and path.endswith(".bin")


def object_writes(method: str, path: str, query: str) -> bool:
    return method in ("PUT", "POST") and path.endswith(".bin")


ENV: dict[str, str | None] = {"AWS_EC2_METADATA_DISABLED": "true"}


def throttled_answers(log: RequestLog, page: str) -> int:
    return log.count(lambda e: e.status == PAGES[page][0])


@pytest.mark.parametrize("page", sorted(PAGES))
def test_ls_waits_out_a_throttled_listing(moto_bucket: S3Env, page: str) -> None:
    with throttled(moto_bucket, page, listings) as (endpoint, log):
        result = run_cli("ls", "-f", "jsonl", moto_bucket.url("data"), "--endpoint-url", endpoint, env=ENV)
    assert result.code == 0, result.stderr
    assert {r["path"] for r in jsonl_rows(result.stdout)} == set(FILES)
    assert throttled_answers(log, page) >= 2


@pytest.mark.parametrize("page", sorted(PAGES))
def test_sync_down_waits_out_throttled_reads(moto_bucket: S3Env, tmp_path: Path, page: str) -> None:
    with throttled(moto_bucket, page, object_reads) as (endpoint, log):
        result = sync_down(moto_bucket, endpoint, tmp_path / "d")
    assert result.code == 0, result.stderr
    assert read_tree(tmp_path / "d") == FILES
    assert throttled_answers(log, page) >= 2


@pytest.mark.parametrize("page", ["503-slowdown", "429-html"])
def test_sync_up_waits_out_throttled_writes(moto_bucket: S3Env, tmp_path: Path, page: str) -> None:
    local = make_tree(tmp_path / "up", FILES)
    with throttled(moto_bucket, page, object_writes) as (endpoint, log):
        result = run_cli("s3-sync", local, moto_bucket.url("up"), "--endpoint-url", endpoint, "-j", "2", env=ENV)
    assert result.code == 0, result.stderr
    assert {name: moto_bucket.get(f"up/{name}") for name in FILES} == FILES
    assert throttled_answers(log, page) >= 2
