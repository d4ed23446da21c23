"""`s3_sync`: a local folder ⇄ s3://bucket/prefix, aws-style."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neurofetch.api.bucket import s3_connection, s3_jobs, s3_profile
from neurofetch.api.runner import names, run_engine
from neurofetch.errors import UsageError

if TYPE_CHECKING:
    from neurofetch.settings import Profile
    from neurofetch.transfer.events import Reporter
    from neurofetch.transfer.results import RunResult

Names = Sequence[str] | str | None


def s3_sync(
    src: str | Path,
    dst: str | Path,
    *,
    profile: str | Profile | None = None,
    config: str | None = None,
    endpoint_url: str | None = None,
    aws_profile: str | None = None,
    region: str | None = None,
    size_only: bool = False,
    checksum: bool = False,
    delete: bool = False,
    exclude: Names = None,
    include: Names = None,
    filters: Sequence[tuple[str, str]] | None = None,
    dry_run: bool = False,
    create_bucket: bool = False,
    storage_class: str | None = None,
    jobs: int | None = None,
    shard: str | None = None,
    from_manifest: str | Path | None = None,
    wait: str | float | None = None,
    progress: bool = True,
    reporter: Reporter | None = None,
) -> RunResult:
    """Make ``dst`` like ``src`` (one of them ``s3://BUCKET/PREFIX``). ``exclude``/``include`` apply in that order
    (aws-style, the last match wins); ``filters`` gives ``("exclude"|"include", pattern)`` pairs in any order."""
    from neurofetch.services.s3.sync import S3SyncOptions
    from neurofetch.services.s3.sync import s3_sync as run_sync
    from neurofetch.transfer.limits import given_limits
    from neurofetch.transfer.shard import Shard

    chosen = s3_profile(profile, config)
    source, target = str(src), str(dst)
    ordered = (
        list(filters)
        if filters is not None
        else ([("exclude", p) for p in names(exclude)] + [("include", p) for p in names(include)])
    )
    options = S3SyncOptions(
        src=source,
        dst=target,
        **s3_connection(chosen, endpoint_url, aws_profile, region),
        jobs=s3_jobs(jobs, chosen),
        size_only=size_only,
        checksum=checksum,
        delete=delete,
        filters=ordered,
        dry_run=dry_run,
        create_bucket=create_bucket,
        storage_class=storage_class.upper() if storage_class else None,
        shard=Shard.parse(shard) if shard else None,
        manifest=_manifest(from_manifest, source),
        wait=given_limits(wait=wait).get("wait", chosen.wait if chosen else None),
    )
    return run_engine(lambda events: run_sync(options, reporter=events), progress=progress, reporter=reporter)


def _manifest(path: str | Path | None, src: str) -> Any:
    if path is None:
        return None
    from neurofetch.api.listing import load_manifest

    if not src.startswith("s3://"):
        raise UsageError("--from-manifest takes downloads only: SRC must be s3://BUCKET/PREFIX")
    return load_manifest(Path(path), "s3", src)
