"""The one S3 interface of neurofetch (reference/s3.md §4, §6): ``S3Bucket`` lists, uploads,
downloads, deletes and creates buckets; callers never see boto3 or obstore.

* Credentials, region and endpoint: boto3's session, exactly as aws-cli resolves them (session.py).
* Listing: a lean signed ListObjectsV2 on custom endpoints (listing.py), else boto3's paginator.
* Data: obstore when installed (fast.py) — single PUT/GET below 8 MiB, 8 MiB multipart parts and
  ranged GETs above; botocore costs ~4 ms of CPU per request and twice obstore's CPU per byte.
  Fallback, and for keys obstore cannot express: boto3 put/get and s3transfer, same 8 MiB parts,
  so ETags equal aws-cli's either way. ``NEUROFETCH_S3_BACKEND=boto3`` forces the fallback.
All third-party imports are lazy.
"""

from __future__ import annotations

import functools
import logging
import mimetypes
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from neurofetch.errors import UsageError, unwritable
from neurofetch.net.proxies import ProxyEnvironment
from neurofetch.services.s3 import fast as s3_fast
from neurofetch.services.s3.errors import client_error_code, translate
from neurofetch.services.s3.lock import PrefixLock
from neurofetch.services.s3.retries import honour_retry_after
from neurofetch.services.s3.session import boto3_session, open_aws_session
from neurofetch.transfer.sync.etag import MULTIPART_CHUNK, MULTIPART_THRESHOLD, aws_part_size
from neurofetch.transfer.sync.model import DEFAULT_JOBS, Progress, RemoteObject, S3Location

__all__ = ["DEFAULT_JOBS", "RemoteObject", "S3Bucket", "S3Location", "S3Settings", "backend_from_env"]

log = logging.getLogger("neurofetch.s3")

DEFAULT_MAX_ATTEMPTS = 5  # aws-cli's legacy default; AWS_MAX_ATTEMPTS / max_attempts override it
DELETE_BATCH = 1000
BACKENDS = ("auto", "boto3")


@dataclass(frozen=True)
class S3Settings:
    endpoint_url: str | None = None
    aws_profile: str | None = None
    region: str | None = None
    verify_tls: bool | str = True
    jobs: int = DEFAULT_JOBS
    backend: str = "auto"  # "boto3" turns the obstore fast path off (env NEUROFETCH_S3_BACKEND)


class _KnownSize:
    """s3transfer subscriber: hand over size (and ETag) from the listing so it skips a HeadObject,
    and pass byte progress on."""

    def __init__(self, size: int, etag: str | None, progress: Progress | None) -> None:
        self.size, self.etag, self.progress = size, etag, progress

    def on_queued(self, future: Any, **kwargs: Any) -> None:
        future.meta.provide_transfer_size(self.size)
        if self.etag:
            future.meta.provide_object_etag(self.etag)

    def on_progress(self, future: Any = None, bytes_transferred: int = 0, **kwargs: Any) -> None:
        if self.progress is not None:
            self.progress(bytes_transferred)

    def on_done(self, **kwargs: Any) -> None: ...


class S3Bucket:
    """One bucket on one endpoint: list, upload, download, delete (transfer/sync/model.py's ``Bucket``).
    Thread-safe; close() when done."""

    def __init__(self, settings: S3Settings, bucket: str) -> None:
        self.bucket, self.settings = bucket, settings
        self._aws = aws = open_aws_session(settings.aws_profile, settings.region, settings.endpoint_url)
        self._credentials, self.credential_source = aws.credentials, aws.source
        self.region, self.custom_endpoint, self.path_style = aws.region, aws.endpoint, aws.path_style
        self.max_attempts = aws.max_attempts or DEFAULT_MAX_ATTEMPTS
        self.endpoint = self.custom_endpoint or f"https://s3.{self.region}.amazonaws.com"
        # The proxy variables are read here, once, and both clients are told the outcome: botocore would
        # ignore ALL_PROXY, reqwest would let upper case win.
        self._proxy_environment = ProxyEnvironment.from_environ()
        self._proxy = self._proxy_environment.proxy_for_url(self.endpoint) if self._proxy_environment else None
        self._client: Any = None
        self._lock = threading.RLock()
        self._manager: Any = None
        self._closed = False
        self._stop = s3_fast.StopFlag()
        self._parts: ThreadPoolExecutor | None = None
        self._big_uploads = threading.BoundedSemaphore(self._big_transfer_shape()[0])
        self._fast: s3_fast.FastStore | None = None
        self._fast_ok = settings.backend != "boto3" and s3_fast.available()
        if self._fast_ok:
            s3_fast.limit_malloc_arenas()
        self._bucket_region: str | None = None

    @property
    def client(self) -> Any:
        """The botocore S3 client, built on first use (building it costs ~0.1 s)."""
        with self._lock:
            if self._client is None:
                self._client = boto3_session(self._aws).client("s3", **self._client_args())
                honour_retry_after(self._client, self.max_attempts)
            return self._client

    def _client_args(self) -> dict[str, Any]:
        from botocore.config import Config

        proxy = self._proxy.url_with_credentials if self._proxy else None
        config = Config(
            max_pool_connections=max(self.settings.jobs, 10) + 4,
            connect_timeout=10,
            read_timeout=120,
            retries={"mode": "standard", "max_attempts": self.max_attempts},
            s3={"addressing_style": "path" if self.path_style else self._aws.addressing_style},
            user_agent_extra="neurofetch",
            proxies={"http": proxy, "https": proxy} if proxy else {},  # not None: botocore would read the
            #                                                           environment again, its own way
        )
        return {
            "endpoint_url": self.custom_endpoint,
            "region_name": self.region,
            "config": config,
            "verify": None if self.settings.verify_tls is True else self.settings.verify_tls,
        }

    # -- errors -------------------------------------------------------------------------------------------------
    def error(self, exc: BaseException, what: str = "") -> Exception:
        return translate(
            exc, endpoint=self.endpoint, credential_source=self.credential_source, what=what, proxy=self._proxy
        )

    # -- bucket -------------------------------------------------------------------------------------------------
    def exists(self) -> bool:
        try:
            self.client.head_bucket(Bucket=self.bucket)
            return True
        except Exception as exc:
            if client_error_code(exc) in ("404", "NoSuchBucket", "NotFound"):
                return False
            raise self.error(exc, f"checking bucket {self.bucket}") from None

    def create(self) -> None:
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        if self.region != "us-east-1" and not self.custom_endpoint:
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            self.client.create_bucket(**kwargs)
        except Exception as exc:
            if client_error_code(exc) not in ("BucketAlreadyOwnedByYou",):
                raise self.error(exc, f"creating bucket {self.bucket}") from None

    # -- listing ------------------------------------------------------------------------------------------------
    def list_pages(self, prefix: str) -> Iterator[list[RemoteObject]]:
        """Flat ListObjectsV2 (no delimiter), one list per page, in the server's (key) order, each key once:
        if the lean listing fails part-way, boto3 lists on after the last key it gave (StartAfter)."""
        last: str | None = None
        if self.custom_endpoint and self.path_style and self.settings.backend != "boto3" and self._proxy is None:
            from neurofetch.services.s3.listing import FastListFailed, list_pages

            try:
                verify = self.settings.verify_tls
                if verify is True:
                    verify = os.environ.get("AWS_CA_BUNDLE") or True
                for page in list_pages(
                    endpoint=self.custom_endpoint,
                    bucket=self.bucket,
                    prefix=prefix,
                    region=self.region,
                    credentials=self._credentials,
                    verify=verify,
                ):
                    yield page
                    last = page[-1].key if page else last
                return
            except FastListFailed as exc:
                log.debug("lean listing failed (%s); listing with boto3 after %r", exc, last)
        yield from self._boto3_pages(prefix, start_after=last)

    def _boto3_pages(self, prefix: str, *, start_after: str | None = None) -> Iterator[list[RemoteObject]]:
        paginator = self.client.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=self.bucket, Prefix=prefix, **({"StartAfter": start_after} if start_after else {})
        )
        try:
            for page in pages:
                headers = page.get("ResponseMetadata", {}).get("HTTPHeaders", {})
                self._bucket_region = self._bucket_region or headers.get("x-amz-bucket-region")
                yield [
                    RemoteObject(
                        o["Key"],
                        int(o["Size"]),
                        int(o["LastModified"].timestamp() // 1),
                        o.get("ETag", ""),
                        o.get("StorageClass") or "STANDARD",
                    )
                    for o in page.get("Contents", ())
                ]
        except Exception as exc:
            raise self.error(exc, f"listing s3://{self.bucket}/{prefix}") from None

    def lock(self, prefix: str, name: str) -> PrefixLock:
        return PrefixLock(self, prefix, name)

    # -- data ---------------------------------------------------------------------------------------------------
    def _transfer_manager(self) -> Any:
        with self._lock:
            if self._closed:
                raise RuntimeError("the S3 connection was closed (interrupted)")
            if self._manager is None:
                from s3transfer.manager import TransferConfig, TransferManager

                config = TransferConfig(
                    multipart_threshold=MULTIPART_THRESHOLD,
                    multipart_chunksize=MULTIPART_CHUNK,
                    max_request_concurrency=self.settings.jobs,
                    max_io_queue_size=100,
                    max_in_memory_upload_chunks=10,  # s3transfer default: ≤ 80 MiB of parts in memory
                    max_in_memory_download_chunks=200,
                )
                self._manager = TransferManager(self.client, config)
            return self._manager

    @functools.cached_property
    def _has_session_token(self) -> bool:
        if not self._fast_ok:
            return False
        try:
            credentials = self._credentials
            return bool(credentials is not None and credentials.get_frozen_credentials().token)
        except Exception:  # no usable credentials: the request itself will say so
            return False

    def _fast_store(self, key: str) -> s3_fast.FastStore | None:
        if not self._fast_ok or not s3_fast.key_supported(key):
            return None
        with self._lock:
            if self._fast is None:
                try:
                    self._fast = s3_fast.FastStore(
                        bucket=self.bucket,
                        endpoint=self.custom_endpoint,
                        region=self._bucket_region or self.region,
                        path_style=self.path_style,
                        credentials=self._credentials,
                        verify_tls=self.settings.verify_tls,
                        jobs=self.settings.jobs,
                        max_attempts=self.max_attempts,
                        proxy=s3_fast.proxy_options(
                            self._proxy, self._proxy_environment, urlsplit(self.endpoint).hostname or ""
                        ),
                    )
                except Exception:
                    log.debug("obstore fast path unavailable; using boto3 for every object", exc_info=True)
                    self._fast_ok = False
                    return None
            return self._fast

    def _big_transfer_shape(self) -> tuple[int, int]:
        """(files at once, parts per file) for obstore multipart: ≤ 8 parts in flight in all."""
        in_flight = min(self.settings.jobs, 8)
        files = max(1, in_flight // 2)
        return files, max(1, in_flight // files)

    def upload(
        self, path: str, key: str, size: int, *, storage_class: str | None = None, progress: Progress | None = None
    ) -> None:
        content_type = mimetypes.guess_type(path)[0]
        fast = self._fast_store(key)
        try:
            if size < MULTIPART_THRESHOLD:
                if fast is not None:
                    fast.put_file(path, key, content_type=content_type, storage_class=storage_class)
                else:
                    with open(path, "rb") as body:
                        self.client.put_object(
                            Bucket=self.bucket, Key=key, Body=body, **_extra_args(content_type, storage_class)
                        )
                if progress is not None:
                    progress(size)
            elif fast is not None:
                self._fast_multipart(fast, path, key, size, content_type, storage_class, progress)
            else:
                future = self._transfer_manager().upload(
                    path,
                    self.bucket,
                    key,
                    extra_args=_extra_args(content_type, storage_class),
                    subscribers=[_KnownSize(size, None, progress)],
                )
                future.result()
        except Exception as exc:
            raise self.error(exc) from None

    def _fast_multipart(
        self,
        fast: s3_fast.FastStore,
        path: str,
        key: str,
        size: int,
        content_type: str | None,
        storage_class: str | None,
        progress: Progress | None,
    ) -> None:
        started = time.time()
        _, per_file = self._big_transfer_shape()
        try:
            with self._big_uploads:
                fast.put_parts(
                    path,
                    key,
                    part_size=aws_part_size(size),
                    concurrency=per_file,
                    content_type=content_type,
                    storage_class=storage_class,
                    progress=progress,
                    stop=self._stop,
                )
        except BaseException:
            self._abort_uploads(key, since=started)
            raise

    def _abort_uploads(self, key: str, since: float) -> None:
        """Best effort: abort the multipart upload a failed or interrupted put left behind (obstore
        does not), so no invisible parts keep costing storage. Only uploads of this key begun since
        ``since`` (minus clock skew) are touched."""
        try:
            listed = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=key)
            for upload in listed.get("Uploads", ()):
                if upload.get("Key") == key and upload["Initiated"].timestamp() >= since - 300:
                    self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload["UploadId"])
        except Exception:
            log.debug("could not abort the multipart upload of %s", key, exc_info=True)

    def download(self, key: str, size: int, etag: str, out: BinaryIO, *, progress: Progress | None = None) -> None:
        """Write the object into ``out`` (a file opened "wb"); callers own temp files and renames."""
        # obstore follows a GET's redirect to another host with the session token still attached (it has no
        # switch to refuse redirects); botocore follows none, so session credentials download through boto3.
        fast = None if self._has_session_token else self._fast_store(key)
        try:
            if size < MULTIPART_THRESHOLD:
                if fast is not None:
                    fast.get_into(key, out)
                else:
                    body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
                    while chunk := body.read(1024 * 1024):
                        out.write(chunk)
                if progress is not None:
                    progress(size)
            elif fast is not None and hasattr(os, "pwrite"):
                out.flush()
                fast.get_ranges(
                    key,
                    size=size,
                    etag=etag,
                    part_size=MULTIPART_CHUNK,
                    fd=out.fileno(),
                    pool=self._part_pool(),
                    progress=progress,
                    stop=self._stop,
                )
            else:
                future = self._transfer_manager().download(
                    self.bucket, key, out, subscribers=[_KnownSize(size, etag, progress)]
                )
                future.result()
        except Exception as exc:
            if isinstance(exc, OSError) and (unwritten := unwritable(exc, os.path.dirname(str(out.name)))):
                raise unwritten from None  # the local disk, not the bucket: the sync stops
            raise self.error(exc) from None

    def _part_pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._closed:
                raise s3_fast.Stopped("interrupted")
            if self._parts is None:
                self._parts = ThreadPoolExecutor(min(self.settings.jobs, 8), thread_name_prefix="nf-s3-part")
            return self._parts

    def delete_many(self, keys: list[str]) -> list[tuple[str, str]]:
        """Delete in batches of 1000; returns (key, error) for each key that could not be deleted."""
        failed: list[tuple[str, str]] = []
        for start in range(0, len(keys), DELETE_BATCH):
            batch = keys[start : start + DELETE_BATCH]
            try:
                response = self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
                )
            except Exception as exc:
                message = str(self.error(exc))
                failed.extend((k, message) for k in batch)
                continue
            failed.extend(
                (e.get("Key", "?"), f"{e.get('Code', 'error')}: {e.get('Message', '')}".strip())
                for e in response.get("Errors", ())
            )
        return failed

    def close(self, *, cancel: bool = False) -> None:
        self._closed = True
        if cancel:
            self._stop.set()
        if self._parts is not None:
            self._parts.shutdown(wait=True, cancel_futures=cancel)
        if self._manager is not None:
            if cancel:  # s3transfer 0.19's shutdown(cancel=True) passes its arguments wrongly; __exit__ works
                self._manager.__exit__(KeyboardInterrupt, KeyboardInterrupt(), None)
            else:
                self._manager.shutdown()
            self._manager = None
        if self._client is not None:
            self._client.close()

    def __enter__(self) -> S3Bucket:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close(cancel=exc_info[0] is not None)


def _extra_args(content_type: str | None, storage_class: str | None) -> dict[str, str]:
    extra = {"ContentType": content_type, "StorageClass": storage_class}
    return {k: v for k, v in extra.items() if v}


def backend_from_env() -> str:
    value = os.environ.get("NEUROFETCH_S3_BACKEND", "auto").strip().lower() or "auto"
    if value not in BACKENDS:
        raise UsageError(f"NEUROFETCH_S3_BACKEND must be one of {', '.join(BACKENDS)}, not {value!r}")
    return value
