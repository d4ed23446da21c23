"""S3 for `ls` and for one-object downloads: the rows of what `s3-sync s3://BUCKET/PREFIX DEST` would download
(through the sync's own plan, so paths and filters are the same), and ``s3://BUCKET/KEY`` naming one object."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone

from neurofetch.services.s3.bucket import RemoteObject, S3Bucket, S3Location
from neurofetch.transfer.listing import Row
from neurofetch.transfer.results import RunResult
from neurofetch.transfer.shard import Shard
from neurofetch.transfer.sync.plan import OrderedFilters, Rules, plan

LISTED = ("download", "archived")   # archived objects are listed (storage_class says why a sync skips them)


def object_key(url: str) -> str:
    """The key part of ``s3://bucket/key`` as typed (S3Location adds a trailing ``/``)."""
    return url[5:].partition("/")[2]


def single_object(bucket: S3Bucket, url: str) -> tuple[S3Location, RemoteObject] | None:
    """When ``url`` names one object rather than a folder (aws s3 cp): the location of its folder and the object."""
    key = object_key(url)
    if not key or key.endswith("/"):
        return None
    for page in bucket.list_pages(key):
        for found in page:
            if found.key == key:
                folder = key.rpartition("/")[0]
                return S3Location(bucket.bucket, f"{folder}/" if folder else ""), found
    return None


def remote_listing(bucket: S3Bucket, url: str) -> tuple[S3Location, Iterable[list[RemoteObject]]]:
    """The location and listing pages of ``url``: its prefix, or the one object it names when the prefix is empty."""
    location = S3Location.parse(url)
    pages: Iterator[list[RemoteObject]] = iter(bucket.list_pages(location.prefix))
    first = next(pages, None)
    if not first:
        single = single_object(bucket, url)
        if single is not None:
            return single[0], [[single[1]]]
        return location, []
    return location, _chain(first, pages)


def _chain(first: list[RemoteObject], rest: Iterator[list[RemoteObject]]) -> Iterator[list[RemoteObject]]:
    yield first
    yield from rest


def list_rows(bucket: S3Bucket, url: str, filters: OrderedFilters, shard: Shard | None,
              emit: Callable[[Row], None], result: RunResult) -> None:
    """One row per object `s3-sync URL DEST` would download, streamed page by page."""
    location, pages = remote_listing(bucket, url)
    for action in plan(Rules("download"), {}, pages, location.prefix, filters, shard):
        remote = action.remote
        if action.kind not in LISTED or remote is None:
            continue
        emit({"path": action.rel, "url": location.url(action.rel), "size": remote.size, "key": remote.key,
              "etag": remote.etag.strip('"'), "storage_class": remote.storage_class,
              "modified": datetime.fromtimestamp(remote.mtime, timezone.utc).isoformat().replace("+00:00", "Z")})
        result.add("rows")
        result.bytes += remote.size
