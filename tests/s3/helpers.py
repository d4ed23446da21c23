"""Helpers for the S3 tests: a bucket on a running server, trees with explicit mtimes."""

from __future__ import annotations

import contextlib
import http.client
import http.server
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.s3.servers import REGION, S3Server

OLD = int(time.time()) - 3600  # a whole-second mtime well before any upload of the session


@dataclass
class S3Env:
    server: S3Server
    bucket: str
    client: Any

    @property
    def endpoint(self) -> str:
        return self.server.endpoint

    def url(self, prefix: str = "data") -> str:
        return f"s3://{self.bucket}/{prefix}"

    def sync(self, src: object, dst: object, **kwargs: Any) -> Any:
        from neurofetch.services.s3.sync import S3SyncOptions, s3_sync

        kwargs.setdefault("endpoint_url", self.endpoint)
        kwargs.setdefault("jobs", 4)
        return s3_sync(S3SyncOptions(str(src), str(dst), **kwargs))

    def objects(self, prefix: str = "data/") -> dict[str, dict[str, Any]]:
        found = {}
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for obj in page.get("Contents", ()):
                found[obj["Key"][len(prefix) :]] = obj
        return found

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)

    def get(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def last_modified(self, key: str) -> int:
        return int(self.client.head_object(Bucket=self.bucket, Key=key)["LastModified"].timestamp())


def make_client(server: S3Server) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        region_name=REGION,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
    )


def make_tree(root: Path, files: dict[str, bytes], mtime: int = OLD) -> Path:
    for rel, data in files.items():
        path = root.joinpath(*rel.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (mtime, mtime))
    return root


def read_tree(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` except neurofetch's state folder (the destination lock)."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.relative_to(root).parts[0] != ".neurofetch"
    }


def set_mtime(path: Path, mtime: float) -> None:
    os.utime(path, (mtime, mtime))


def wait_next_second() -> None:
    """S3's LastModified has 1 s resolution: make the next write land in a later second."""
    now = time.time()
    time.sleep(int(now) + 1.05 - now)


DROP = -1  # an ``intercept`` answer: close the connection without a byte of response


@contextlib.contextmanager
def forwarding_proxy(upstream: str, intercept: Callable[[str, str, str], int | None]) -> Iterator[str]:
    """A loopback endpoint that forwards every request to the S3 server at ``upstream`` as it is (signatures
    still match: the Host header is passed on), unless ``intercept(method, path, user_agent)`` returns a
    status to answer instead, or DROP. Yields the endpoint URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None: ...

        def _forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status = intercept(self.command, self.path, self.headers.get("User-Agent", ""))
            if status == DROP:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if status is not None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            connection = http.client.HTTPConnection(urlsplit(upstream).netloc, timeout=30)
            connection.request(self.command, self.path, body=body, headers=dict(self.headers.items()))
            answer = connection.getresponse()
            data = answer.read()
            self.send_response(answer.status)
            for name, value in answer.getheaders():
                if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            connection.close()

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward

    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{proxy.server_port}"
    finally:
        proxy.shutdown()
        proxy.server_close()
