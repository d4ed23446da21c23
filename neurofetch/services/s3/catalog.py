"""S3 for `ls`: the rows of what `s3-sync s3://BUCKET/PREFIX DEST` would download (through the sync's own plan,
so paths and filters are the same), or of the one object ``s3://BUCKET/KEY`` names."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from neurofetch.transfer.listing import Row
from neurofetch.transfer.results import RunResult
from neurofetch.transfer.shard import Shard
from neurofetch.transfer.sync.model import Bucket
from neurofetch.transfer.sync.plan import OrderedFilters, Rules, plan
from neurofetch.transfer.sync.source import remote_listing

LISTED = ("download", "archived")  # archived objects are listed (storage_class says why a sync skips them)


def list_rows(
    bucket: Bucket,
    url: str,
    filters: OrderedFilters,
    shard: Shard | None,
    emit: Callable[[Row], None],
    result: RunResult,
) -> None:
    """One row per object `s3-sync URL DEST` would download, streamed page by page."""
    location, pages = remote_listing(bucket, url)
    for action in plan(Rules("download"), {}, pages, location.prefix, filters, shard):
        remote = action.remote
        if action.kind not in LISTED or remote is None:
            continue
        emit(
            {
                "path": action.rel,
                "url": location.url(action.rel),
                "size": remote.size,
                "key": remote.key,
                "etag": remote.etag.strip('"'),
                "storage_class": remote.storage_class,
                "modified": datetime.fromtimestamp(remote.mtime, timezone.utc).isoformat().replace("+00:00", "Z"),
            }
        )
        result.add("rows")
        result.bytes += remote.size
