"""S3 behind a front in an outage: moto's server behind a reverse proxy with the emulators' fault middleware, which
answers some requests (listings and object reads alike) with nginx/Apache 502/503/504 HTML pages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from neurofetch.emulators.common import FaultMiddleware, Faults, Receive, RequestLog, RunningServer, Scope, Send
from tests.helpers import run_cli
from tests.resilience_support import the_error_line
from tests.s3.helpers import S3Env, make_client, read_tree
from tests.s3.servers import S3Server

FILES = {f"f{i:02d}.bin": bytes([i]) * (100 + i) for i in range(24)}


class ReverseProxy:
    """Passes every request on to ``upstream`` as it came (Host included: the signature covers it)."""

    def __init__(self, upstream: str) -> None:
        self.client = httpx.AsyncClient(base_url=upstream, timeout=30)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        url = scope["raw_path"].decode() + ("?" + scope["query_string"].decode() if scope["query_string"] else "")
        headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
        answer = await self.client.request(scope["method"], url, headers=headers, content=body)
        kept = [
            (k.encode(), v.encode())
            for k, v in answer.headers.items()
            if k.lower() not in ("content-length", "transfer-encoding", "content-encoding", "connection")
        ]
        await send(
            {
                "type": "http.response.start",
                "status": answer.status_code,
                "headers": [*kept, (b"content-length", str(len(answer.content)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": answer.content})


@pytest.fixture
def moto_bucket(moto_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Env:
    import uuid

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", moto_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", moto_server.secret_key)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    env = S3Env(moto_server, f"nf-{uuid.uuid4().hex[:16]}", make_client(moto_server))
    env.client.create_bucket(Bucket=env.bucket)
    for name, data in FILES.items():
        env.put(f"data/{name}", data)
    return env


@contextmanager
def front(s3: S3Env, faults: str) -> Iterator[tuple[str, RequestLog]]:
    log = RequestLog()
    server = RunningServer(FaultMiddleware(ReverseProxy(s3.endpoint), Faults.parse(faults), log)).start()
    try:
        yield server.origin, log
    finally:
        server.stop()


def sync_down(s3: S3Env, endpoint: str, dest: Path, **env: str) -> Any:
    from neurofetch.cli import app as app_module
    from neurofetch.cli import s3 as s3_cli

    if not any(c.name == "s3-sync" for c in app_module.app.registered_commands):
        s3_cli.register(app_module.app)
    return run_cli(
        "s3-sync",
        s3.url(),
        str(dest),
        "--endpoint-url",
        endpoint,
        "-j",
        "2",
        env={"AWS_EC2_METADATA_DISABLED": "true", **env},
    )


def test_html_outage_pages_are_retried_until_every_object_is_exact(moto_bucket: S3Env, tmp_path: Path) -> None:
    with front(moto_bucket, "html_outage=0.3,seed=3") as (endpoint, log):
        result = sync_down(moto_bucket, endpoint, tmp_path / "d", AWS_MAX_ATTEMPTS="20")
        outages = [e for e in log.entries() if e.status in (502, 503, 504)]
    assert result.code == 0, result.stderr
    assert read_tree(tmp_path / "d") == FILES
    assert {e.status for e in outages} == {502, 503, 504}
    assert any(e.method == "GET" and e.path.endswith(".bin") for e in outages)


def test_a_lasting_outage_ends_in_one_line_naming_the_status(moto_bucket: S3Env, tmp_path: Path) -> None:
    with front(moto_bucket, "html_outage=1") as (endpoint, _log):
        result = sync_down(moto_bucket, endpoint, tmp_path / "d", AWS_MAX_ATTEMPTS="2")
    assert result.code == 5, result.stderr
    line = the_error_line(result.stderr)
    assert re.search(r"\b50[234]\b", line) and "XML" not in line and "JSON" not in line, line
