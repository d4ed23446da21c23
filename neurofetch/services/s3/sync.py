"""`s3-sync` on S3 itself: the sync engine (transfer/sync/run.py) handed an ``S3Bucket`` built from the
endpoint, AWS profile, region, TLS and backend options."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from neurofetch.services.s3.bucket import S3Bucket, S3Settings, backend_from_env
from neurofetch.transfer.results import RunResult
from neurofetch.transfer.sync.run import SyncOptions, sync


@dataclass
class S3SyncOptions(SyncOptions):
    endpoint_url: str | None = None
    aws_profile: str | None = None
    region: str | None = None
    verify_tls: bool | str = True
    backend: str | None = None  # None: $NEUROFETCH_S3_BACKEND or "auto"


def s3_sync(options: S3SyncOptions, *, reporter: Any = None) -> RunResult:
    """Synchronise one way, SRC → DST (transfer/sync/run.py's ``sync``), on S3 with the options' connection."""
    settings = S3Settings(
        options.endpoint_url,
        options.aws_profile,
        options.region,
        options.verify_tls,
        options.jobs,
        options.backend or backend_from_env(),
    )
    return sync(options, lambda name: S3Bucket(settings, name), reporter=reporter)
