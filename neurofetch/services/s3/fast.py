"""The fast data path: obstore (Rust object_store) through its synchronous API, called from our
worker threads (it releases the GIL; its async API can abort at interpreter exit, reference/s3.md
§4). Credentials still come from boto3's chain through a callback, so profiles, SSO and assume-role
keep working. botocore spends ~4 ms of CPU per request and signs and checksums every byte in
Python-driven code; obstore needs about half the client CPU for big files and a fraction for small
ones. Multipart uploads are fed 8 MiB chunks (the aws part size), so ETags equal aws-cli's, and
both directions stop between parts when the run is interrupted.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from neurofetch.services.s3.retries import OBSTORE_BACKOFF

if TYPE_CHECKING:
    import botocore.credentials
    from obstore.store import ClientConfig, S3Config, S3Credential

    from neurofetch.net.proxies import Proxy, ProxyEnvironment

_UNSAFE_FOR_OBSTORE = re.compile(r"[\x00-\x1f\x7f]|//|^/|/$|(^|/)\.\.?(/|$)")


def available() -> bool:
    try:
        import obstore  # noqa: F401
    except ImportError:
        return False
    return True


def proxy_options(proxy: Proxy | None, environment: ProxyEnvironment | None, host: str) -> ClientConfig:
    """obstore's proxy settings for requests to ``host``, always explicit: left alone, reqwest reads the
    proxy variables itself with other rules (upper case first, no ports in NO_PROXY). object_store has no
    switch to ignore them, so going direct with variables set is a proxy that excludes this host (its
    reqwest ignores a "*" there)."""
    if proxy is not None:
        return {"proxy_url": proxy.url_with_credentials}
    if environment is not None:
        return {"proxy_url": environment.proxies[0].url, "proxy_excludes": host}
    return {}


def key_supported(key: str) -> bool:
    """object_store refuses keys with empty, '.' or '..' segments and control characters."""
    return not _UNSAFE_FOR_OBSTORE.search(key)


def limit_malloc_arenas() -> None:
    """glibc gives each allocating thread its own malloc arena and keeps freed 8 MiB part buffers in
    it, so RSS grows with the number of worker threads (~250 MiB peak for 8 × 64 MiB uploaded).
    Capping arenas at 2 keeps that peak at 155-190 MiB; a fixed mmap threshold would too, but then
    every buffer is page-faulted afresh, which costs big downloads CPU. Call before worker threads
    start: a thread's arena is chosen at its first allocation."""
    if sys.platform != "linux":
        return
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return
        import ctypes

        ctypes.CDLL(None).mallopt(-8, 2)  # M_ARENA_MAX
    except (OSError, ValueError, AttributeError):
        pass


class _Credentials:
    """obstore credential callback backed by botocore (refreshable credentials refresh themselves)."""

    def __init__(self, credentials: botocore.credentials.Credentials) -> None:
        self._credentials = credentials

    def __call__(self) -> S3Credential:
        frozen = self._credentials.get_frozen_credentials()
        return {
            "access_key_id": frozen.access_key,
            "secret_access_key": frozen.secret_key,
            "token": frozen.token,
            "expires_at": datetime.now(timezone.utc) + timedelta(minutes=5),
        }


class FastStore:
    def __init__(
        self,
        *,
        bucket: str,
        endpoint: str | None,
        region: str,
        path_style: bool,
        credentials: botocore.credentials.Credentials,
        verify_tls: bool | str,
        jobs: int,
        max_attempts: int,
        proxy: ClientConfig,
    ) -> None:
        from obstore.store import S3Store

        client_options: ClientConfig = {
            "pool_max_idle_per_host": str(max(jobs, 1)),
            "connect_timeout": "10s",
            "timeout": "300s",
            "user_agent": "neurofetch",
            **proxy,
        }
        if endpoint and endpoint.startswith("http://"):
            client_options["allow_http"] = True
        if verify_tls is False:
            client_options["allow_invalid_certificates"] = True
        elif endpoint is None or endpoint.startswith("https://"):
            bundle = verify_tls if isinstance(verify_tls, str) else os.environ.get("AWS_CA_BUNDLE")
            if bundle:
                client_options["root_certificate"] = Path(bundle).expanduser().read_bytes()  # PEM contents
        config: S3Config = {
            "region": region,
            "virtual_hosted_style_request": not path_style,
            "skip_signature": False,
            "request_payer": False,
        }
        if endpoint:
            config["endpoint"] = endpoint
        self._store = S3Store(
            bucket,
            config=config,
            client_options=client_options,
            retry_config={
                "max_retries": max(max_attempts - 1, 0),
                "retry_timeout": timedelta(minutes=3),
                "backoff": OBSTORE_BACKOFF,
            },
            credential_provider=_Credentials(credentials),
        )

    def put_file(self, path: str, key: str, *, content_type: str | None, storage_class: str | None) -> None:
        import obstore

        obstore.put(
            self._store, key, Path(path), attributes=_attributes(content_type, storage_class), use_multipart=False
        )

    def put_parts(
        self,
        path: str,
        key: str,
        *,
        part_size: int,
        concurrency: int,
        content_type: str | None,
        storage_class: str | None,
        progress: Callable[[int], None] | None,
        stop: StopFlag,
    ) -> None:
        """Multipart upload with parts of exactly ``part_size`` bytes (the last one shorter)."""
        import obstore

        def chunks() -> Iterator[bytes]:
            with open(path, "rb") as fh:
                while True:
                    stop.check()
                    block = fh.read(part_size)
                    if not block:
                        return
                    if progress is not None:
                        progress(len(block))
                    yield block

        obstore.put(
            self._store,
            key,
            chunks(),
            attributes=_attributes(content_type, storage_class),
            use_multipart=True,
            chunk_size=part_size,
            max_concurrency=concurrency,
        )

    def get_into(self, key: str, out: BinaryIO) -> int:
        import obstore

        data = obstore.get(self._store, key).bytes()
        out.write(memoryview(data))
        return len(data)

    def get_ranges(
        self,
        key: str,
        *,
        size: int,
        etag: str,
        part_size: int,
        fd: int,
        pool: Executor,
        progress: Callable[[int], None] | None,
        stop: StopFlag,
    ) -> None:
        """Ranged GETs of ``part_size`` on ``pool``, written in place with pwrite. If-Match on the
        listed ETag: an object replaced half-way fails instead of mixing two versions."""
        import obstore

        def part(start: int) -> None:
            stop.check()
            end = min(start + part_size, size)
            data = obstore.get(self._store, key, options={"range": (start, end), "if_match": etag}).bytes()
            view = memoryview(data)
            if len(view) != end - start:
                raise OSError(f"short ranged read at byte {start} (object changed during the sync?)")
            offset = start
            while view:
                written = os.pwrite(fd, view, offset)
                view, offset = view[written:], offset + written
            if progress is not None:
                progress(end - start)

        futures = [pool.submit(part, start) for start in range(0, size, part_size)]
        try:
            for future in futures:
                future.result()
        finally:
            for future in futures:
                future.cancel()


class Stopped(Exception):
    """Raised inside a transfer when the run is being interrupted."""


class StopFlag:
    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Stopped("interrupted")


def _attributes(content_type: str | None, storage_class: str | None) -> dict[str, str] | None:
    attributes = {"Content-Type": content_type, "Storage-Class": storage_class}
    return {k: v for k, v in attributes.items() if v} or None
