"""What the sync engine knows of a bucket: its objects, its URLs, and the ``Bucket`` protocol, the operations
`s3-sync` and `ls s3://` call. services/s3 implements it with boto3 and obstore; the engine never sees them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from neurofetch.errors import UsageError

Progress = Callable[[int], None]

DEFAULT_JOBS = 16
STORAGE_CLASSES = (
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "GLACIER_IR",
    "OUTPOSTS",
    "SNOW",
    "EXPRESS_ONEZONE",
)
ARCHIVED_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE"})
LOCK_FOLDER = ".neurofetch/"  # below the prefix; s3-sync never lists, uploads, downloads or deletes it


class NoSuchBucketError(UsageError):
    """The bucket named in the S3 URL does not exist."""


@dataclass(slots=True)
class RemoteObject:
    key: str
    size: int
    mtime: int  # LastModified, whole seconds since the epoch
    etag: str
    storage_class: str


@dataclass(frozen=True)
class S3Location:
    """``s3://bucket/prefix``; ``prefix`` is empty or ends with ``/`` (like aws, a prefix is a folder)."""

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, url: str) -> S3Location:
        if not url.startswith("s3://"):
            raise UsageError(f"not an S3 URL (expected s3://bucket/prefix): {url}")
        bucket, _, prefix = url[5:].partition("/")
        if not bucket:
            raise UsageError(f"no bucket in S3 URL: {url}")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        return cls(bucket, prefix)

    def key(self, rel: str) -> str:
        return self.prefix + rel

    def url(self, rel: str = "") -> str:
        return f"s3://{self.bucket}/{self.prefix}{rel}"


class HeldLock(Protocol):
    """One run's hold on a prefix (uploads), taken by ``with``: ``lost`` once another run took it over."""

    lost: bool

    def __enter__(self) -> object: ...

    def __exit__(self, *exc_info: object) -> None: ...


class Bucket(Protocol):
    """One bucket on one endpoint. Thread-safe: the sync calls it from its worker threads."""

    bucket: str  # the bucket's name

    def list_pages(self, prefix: str) -> Iterator[list[RemoteObject]]:
        """Every object below ``prefix``, page by page, each key once (a listing that fails part-way resumes
        after the last key it gave)."""
        ...

    def exists(self) -> bool: ...

    def create(self) -> None: ...

    def upload(
        self, path: str, key: str, size: int, *, storage_class: str | None = None, progress: Progress | None = None
    ) -> None: ...

    def download(self, key: str, size: int, etag: str, out: BinaryIO, *, progress: Progress | None = None) -> None:
        """Write the object into ``out`` (a file opened "wb"); the caller owns temporary files and renames."""
        ...

    def delete_many(self, keys: list[str]) -> list[tuple[str, str]]:
        """Delete ``keys``; (key, error) for each one that could not be deleted."""
        ...

    def lock(self, prefix: str, name: str) -> HeldLock:
        """The upload lock of ``prefix`` (``name``: the whole prefix's, or a shard's)."""
        ...

    def error(self, exc: BaseException, what: str = "") -> Exception:
        """``exc`` as the neurofetch error a user reads (one line, the right exit code)."""
        ...

    def close(self, *, cancel: bool = False) -> None: ...
