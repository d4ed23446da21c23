"""A front before the S3 test servers: a reverse proxy the tests put fault or throttling middleware in, the
objects behind it, and the download through it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from neurofetch.emulators.common import Receive, Scope, Send
from tests.helpers import request_body, run_cli
from tests.s3.helpers import S3Env

FILES = {f"f{i:02d}.bin": bytes([i]) * (100 + i) for i in range(24)}


class ReverseProxy:
    """Passes every request on to ``upstream`` as it came (Host included: the signature covers it)."""

    def __init__(self, upstream: str) -> None:
        self.client = httpx.AsyncClient(base_url=upstream, timeout=30)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await request_body(receive)
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
