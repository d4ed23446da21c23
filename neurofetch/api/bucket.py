"""Which S3 profile and connection settings an api call on a bucket runs with (`s3_sync`, `ls s3://`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from neurofetch.settings import Profile


def s3_profile(profile: str | Profile | None, config: str | None = None) -> Profile | None:
    """The S3 profile a call runs on, if any (settings.select_s3_profile)."""
    from neurofetch.settings import GlobalOptions, Profile, select_s3_profile

    if isinstance(profile, Profile):
        return profile
    return select_s3_profile(GlobalOptions(config=config, profile=profile))


def s3_connection(
    profile: Profile | None, endpoint_url: str | None, aws_profile: str | None, region: str | None
) -> dict[str, Any]:
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
    return DEFAULT_JOBS  # S3 requests are cheap for the server; 16 in flight is what aws-cli-class tools use
