"""The lock object of `s3-sync` uploads: ``<prefix>.neurofetch/lock`` (``lock-shard-K-of-N`` for a shard),
so two runs never upload into, and delete from, one prefix at once.

* Taken with a conditional PutObject (``If-None-Match: *``), which AWS S3, SeaweedFS, MinIO and moto
  honour: of two runs starting together exactly one gets it. A lock is read first, so on a server that
  ignores the condition a run still finds one taken earlier.
* The holder rewrites it every ``stale / 4`` seconds (``If-Match`` its own ETag). A lock not rewritten for
  ``stale`` seconds by the server's own clock (no client clock skew) was left by a killed run: the next run
  takes it over with ``If-Match`` the stale ETag, so of two runs taking over only one wins.
* A run over the whole prefix and shard runs exclude each other: after taking its own lock, a run looks for
  the other kind's fresh lock and backs off (exit 4) if it finds one.
* Removed at the end with ``If-Match``: a run never removes a lock another run has taken over.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

from neurofetch.environment import env_number
from neurofetch.errors import LockedError
from neurofetch.services.s3.errors import client_error_code
from neurofetch.transfer.sync.model import LOCK_FOLDER, NoSuchBucketError

log = logging.getLogger("neurofetch.s3")

WHOLE_PREFIX = "lock"
DEFAULT_STALE_SECONDS = 120.0  # rewritten every 30 s: a killed run blocks the prefix for 2 minutes
STALE_ENV = "NEUROFETCH_S3_LOCK_STALE"
_CONFLICT = ("PreconditionFailed", "412", "ConditionalRequestConflict", "409")
_ATTEMPTS = 5


def stale_seconds() -> float:
    return env_number(STALE_ENV, DEFAULT_STALE_SECONDS, minimum=1.0)


class LockStore(Protocol):
    """What the lock needs of services/s3/bucket.py's S3Bucket: its botocore client, name and error wording."""

    bucket: str

    @property
    def client(self) -> Any: ...

    def error(self, exc: BaseException, what: str = "") -> Exception: ...


class PrefixLock:
    """The lock of ``s3://bucket/prefix`` for one run (``name``: ``lock`` or a shard's ``lock-shard-K-of-N``)."""

    def __init__(self, bucket: LockStore, prefix: str, name: str = WHOLE_PREFIX) -> None:
        self.bucket, self.prefix, self.name = bucket, prefix, name
        self.key = prefix + LOCK_FOLDER + name
        self.stale = stale_seconds()
        self.lost = False  # another run took it over: this run must not delete anything
        self._etag: str | None = None
        self._holder = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        }
        self._stop = threading.Event()
        self._refresher: threading.Thread | None = None

    # -- taking and giving back ---------------------------------------------------------------------------------
    def acquire(self) -> PrefixLock:
        for _ in range(_ATTEMPTS):
            held = self._read(self.key)
            condition = {"IfNoneMatch": "*"} if held is None else {"IfMatch": held["etag"]}
            if held is not None and not held["stale"]:
                raise self._locked(held)
            etag = self._put(condition)
            if etag is not None:
                self._etag = etag
                break
        else:
            raise LockedError(f"other neurofetch runs keep taking the lock of {self._where()}; try again later")
        try:
            self._check_other_kind()
        except BaseException:
            self.release()
            raise
        self._refresher = threading.Thread(target=self._refresh_loop, name="nf-s3-lock", daemon=True)
        self._refresher.start()
        return self

    def release(self) -> None:
        self._stop.set()
        if self._refresher is not None:
            self._refresher.join(timeout=30)
            self._refresher = None
        if self._etag is None or self.lost:
            return
        etag, self._etag = self._etag, None
        try:
            self.bucket.client.delete_object(Bucket=self.bucket.bucket, Key=self.key, IfMatch=etag)
        except Exception as exc:
            if client_error_code(exc) in _CONFLICT:
                return  # taken over by another run: theirs now
            with contextlib.suppress(Exception):  # a server without conditional deletes: check, then delete
                held = self._read(self.key)
                if held is not None and held["etag"] == etag:
                    self.bucket.client.delete_object(Bucket=self.bucket.bucket, Key=self.key)

    def __enter__(self) -> PrefixLock:
        return self.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    # -- S3 requests --------------------------------------------------------------------------------------------
    def _put(self, condition: dict[str, str]) -> str | None:
        """PutObject under ``condition``; the new ETag, or None when another run got there first."""
        try:
            # "written" makes every write's ETag new, so a run that read the lock stale cannot take it
            # over (If-Match) after its holder rewrote it.
            body = json.dumps({**self._holder, "written": time.time()}).encode()
            answer = self.bucket.client.put_object(
                Bucket=self.bucket.bucket, Key=self.key, Body=body, ContentType="application/json", **condition
            )
        except Exception as exc:
            code = client_error_code(exc)
            if code in _CONFLICT:
                return None
            if code == "NoSuchBucket":
                raise NoSuchBucketError(f"bucket {self.bucket.bucket!r} does not exist") from None
            raise self.bucket.error(exc, f"taking the lock {self._where(self.key)}") from None
        return str(answer.get("ETag", ""))

    def _read(self, key: str) -> dict[str, Any] | None:
        """The lock at ``key`` (holder, ETag, whether it is stale), or None when there is none."""
        try:
            answer = self.bucket.client.get_object(Bucket=self.bucket.bucket, Key=key)
            body = answer["Body"].read(4096)
        except Exception as exc:
            code = client_error_code(exc)
            if code in ("NoSuchKey", "404", "NotFound"):
                return None
            if code == "NoSuchBucket":
                raise NoSuchBucketError(f"bucket {self.bucket.bucket!r} does not exist") from None
            raise self.bucket.error(exc, f"reading the lock {self._where(key)}") from None
        return {
            "etag": str(answer.get("ETag", "")),
            "holder": _describe(body),
            "stale": self._age(answer) >= self.stale,
        }

    def _age(self, answer: dict[str, Any]) -> float:
        """Seconds since the lock was last written, by the server's clock (its Date header)."""
        date = answer.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
        try:
            now = parsedate_to_datetime(date).timestamp() if date else time.time()
        except (TypeError, ValueError):
            now = time.time()
        return now - answer["LastModified"].timestamp()

    def _check_other_kind(self) -> None:
        """A whole-prefix run yields to fresh shard locks, a shard run to a fresh whole-prefix lock."""
        if self.name == WHOLE_PREFIX:
            try:
                listed = self.bucket.client.list_objects_v2(
                    Bucket=self.bucket.bucket, Prefix=self.prefix + LOCK_FOLDER + WHOLE_PREFIX
                )
            except Exception as exc:
                raise self.bucket.error(exc, f"listing the locks of {self._where()}") from None
            others = [o["Key"] for o in listed.get("Contents", ()) if o["Key"] != self.key]
        else:
            others = [self.prefix + LOCK_FOLDER + WHOLE_PREFIX]
        for key in others:
            held = self._read(key)
            if held is not None and not held["stale"]:
                raise self._locked(held)

    def _refresh_loop(self) -> None:
        while not self._stop.wait(self.stale / 4):
            try:
                etag = self._put({"IfMatch": self._etag or ""})
            except Exception:
                log.debug("could not refresh the lock %s", self.key, exc_info=True)
                continue
            if etag is None:
                log.warning("another run took over the lock %s", self._where(self.key))
                self.lost = True
                return
            self._etag = etag

    # -- messages -----------------------------------------------------------------------------------------------
    def _where(self, key: str | None = None) -> str:
        return f"s3://{self.bucket.bucket}/{key if key is not None else self.prefix}"

    def _locked(self, held: dict[str, Any]) -> LockedError:
        return LockedError(
            f"another neurofetch run holds {self._where()} ({held['holder']}); it will be free "
            f"when that run ends, or {self.stale:g} s after it was killed"
        )


def _describe(body: bytes) -> str:
    try:
        info = json.loads(body)
        return f"pid {info['pid']} on {info['host']}, started {info['started']}"
    except (ValueError, KeyError, TypeError):
        return "holder unknown"
