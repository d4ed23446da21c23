"""The remote side of a download: the listing of ``s3://BUCKET/PREFIX``, or the one object ``s3://BUCKET/KEY``
names when no folder of that name exists (as `aws s3 cp` copies one object)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from neurofetch.transfer.sync.model import Bucket, RemoteObject, S3Location


def object_key(url: str) -> str:
    """The key part of ``s3://bucket/key`` as typed (S3Location adds a trailing ``/``)."""
    return url[5:].partition("/")[2]


def single_object(bucket: Bucket, url: str) -> tuple[S3Location, RemoteObject] | None:
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


def remote_listing(bucket: Bucket, url: str) -> tuple[S3Location, Iterable[list[RemoteObject]]]:
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
