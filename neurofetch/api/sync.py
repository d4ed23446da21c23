"""`s3_sync`: a local folder ⇄ s3://bucket/prefix, aws-style."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neurofetch.api.runner import names, run_engine
from neurofetch.errors import UsageError

if TYPE_CHECKING:
    from neurofetch.settings import Profile
    from neurofetch.transfer.events import Reporter
    from neurofetch.transfer.results import RunResult

Names = Sequence[str] | str | None


def s3_sync(src: str | Path, dst: str | Path, *, profile: str | Profile | None = None, config: str | None = None,
            endpoint_url: str | None = None, aws_profile: str | None = None, region: str | None = None,
            size_only: bool = False, checksum: bool = False, delete: bool = False, exclude: Names = None,
            include: Names = None, filters: Sequence[tuple[str, str]] | None = None, dry_run: bool = False,
            create_bucket: bool = False, storage_class: str | None = None, jobs: int | None = None,
            shard: str | None = None, from_manifest: str | Path | None = None, progress: bool = True,
            reporter: Reporter | None = None) -> RunResult:
    """Make ``dst`` like ``src`` (one of them ``s3://BUCKET/PREFIX``). ``exclude``/``include`` apply in that order
    (aws-style, the last match wins); ``filters`` gives ``("exclude"|"include", pattern)`` pairs in any order."""
    from neurofetch.transfer.shard import Shard
    from neurofetch.transfer.sync.run import S3SyncOptions
    from neurofetch.transfer.sync.run import s3_sync as run_sync

    chosen = s3_profile(profile, config)
    source, target = str(src), str(dst)
    ordered = list(filters) if filters is not None else (
        [("exclude", p) for p in names(exclude)] + [("include", p) for p in names(include)])
    options = S3SyncOptions(
        src=source, dst=target, **s3_connection(chosen, endpoint_url, aws_profile, region),
        jobs=s3_jobs(jobs, chosen), size_only=size_only, checksum=checksum, delete=delete, filters=ordered,
        dry_run=dry_run, create_bucket=create_bucket, storage_class=storage_class.upper() if storage_class else None,
        shard=Shard.parse(shard) if shard else None, manifest=_manifest(from_manifest, source),
    )
    return run_engine(lambda events: run_sync(options, reporter=events), progress=progress, reporter=reporter)


def s3_profile(profile: str | Profile | None, config: str | None = None) -> Profile | None:
    """The S3 profile a call runs on, if any (settings.select_s3_profile)."""
    from neurofetch.settings import GlobalOptions, Profile, select_s3_profile

    if isinstance(profile, Profile):
        return profile
    return select_s3_profile(GlobalOptions(config=config, profile=profile))


def s3_connection(profile: Profile | None, endpoint_url: str | None, aws_profile: str | None,
                  region: str | None) -> dict[str, Any]:
    """The connection settings the arguments and the S3 profile give (arguments first)."""
    extra: dict[str, Any] = dict(profile.extra) if profile else {}
    return {
        "endpoint_url": endpoint_url or extra.get("endpoint_url") or (profile.url if profile else None) or None,
        "aws_profile": aws_profile or extra.get("aws_profile"),
        "region": region or extra.get("region"),
        "verify_tls": profile.verify_tls if profile else True,
    }


def s3_jobs(given: int | None, profile: Profile | None) -> int:
    from neurofetch.services.s3.bucket import DEFAULT_JOBS
    from neurofetch.settings import DEFAULT_JOBS as GENERIC_DEFAULT

    if given is not None:
        return given
    if profile is not None and profile.jobs != GENERIC_DEFAULT:
        return profile.jobs
    return DEFAULT_JOBS   # S3 requests are cheap for the server; 16 in flight is what aws-cli-class tools use


def _manifest(path: str | Path | None, src: str) -> Any:
    if path is None:
        return None
    from neurofetch.api.listing import load_manifest

    if not src.startswith("s3://"):
        raise UsageError("--from-manifest takes downloads only: SRC must be s3://BUCKET/PREFIX")
    return load_manifest(Path(path), "s3", src)
