"""An AWS session the way aws-cli would build it: the standard credential chain (environment,
~/.aws/credentials, config profiles, SSO, assume-role, container and instance roles), the region,
and the endpoint from --endpoint-url, AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL or the profile.
Missing or refused credentials become one-line AuthErrors that say what was tried."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from neurofetch.errors import AuthError


@dataclass(frozen=True)
class AwsSession:
    session: Any  # boto3.session.Session, or None when everything came from the environment (boto3_session)
    credentials: Any = field(repr=False)  # botocore.credentials.Credentials (refreshable ones refresh themselves)
    source: str  # where the credentials came from, for messages
    region: str
    endpoint: str | None  # a custom endpoint, or None for AWS itself
    path_style: bool
    addressing_style: str
    max_attempts: int | None  # AWS_MAX_ATTEMPTS / max_attempts in the profile


@dataclass(frozen=True)
class EnvironmentCredentials:
    """Keys from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN, shaped like botocore's credentials."""

    access_key: str
    secret_key: str = field(repr=False)
    token: str | None = field(default=None, repr=False)
    method: str = "env"

    def get_frozen_credentials(self) -> EnvironmentCredentials:
        return self


def open_aws_session(profile: str | None, region: str | None, endpoint_url: str | None) -> AwsSession:
    return _from_environment(profile, region, endpoint_url) or _from_boto3(profile, region, endpoint_url)


def boto3_session(aws: AwsSession) -> Any:
    """The boto3 session behind ``aws`` (built now if the environment gave everything)."""
    if aws.session is not None:
        return aws.session
    import boto3

    return boto3.session.Session()


def _from_environment(profile: str | None, region: str | None, endpoint_url: str | None) -> AwsSession | None:
    """What botocore's chain would find, without importing boto3 (~0.1 s of a no-op run), when all of it is in
    the environment: keys in the variables, no profile named, no config file that could set anything else."""
    env = os.environ
    access_key, secret_key = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
    if not access_key or not secret_key or profile or env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE"):
        return None
    if env.get("AWS_CREDENTIAL_EXPIRATION") or os.path.exists(os.path.expanduser(_aws_files()[1])):
        return None  # refreshable keys, or a config file (regions, endpoints, addressing, retries): botocore reads them
    attempts = env.get("AWS_MAX_ATTEMPTS")
    if attempts and not attempts.strip().isdigit():
        return None  # botocore's own error for it
    endpoint = endpoint_url
    if endpoint is None and env.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() != "true":
        endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    token = env.get("AWS_SESSION_TOKEN") or env.get("AWS_SECURITY_TOKEN") or None
    return AwsSession(
        session=None,
        credentials=EnvironmentCredentials(access_key, secret_key, token),
        source=describe_credential_source("env", None),
        region=region or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        endpoint=endpoint,
        path_style=bool(endpoint),
        addressing_style="auto",
        max_attempts=int(attempts) if attempts else None,
    )


def _from_boto3(profile: str | None, region: str | None, endpoint_url: str | None) -> AwsSession:
    import boto3
    import botocore.exceptions as bce

    try:
        session = boto3.session.Session(profile_name=profile, region_name=region)
    except bce.ProfileNotFound:
        creds_file, config_file = _aws_files()
        raise AuthError(f"AWS profile {profile!r} not found in {creds_file} or {config_file}") from None
    try:
        credentials = session.get_credentials()
    except bce.BotoCoreError as exc:
        raise AuthError(f"could not load AWS credentials: {exc}") from None
    if credentials is None:
        raise AuthError(_missing_credentials_message(profile))
    core = session._session
    endpoint = endpoint_url or _configured_endpoint(session)
    scoped_s3 = core.get_scoped_config().get("s3") or {}
    style = (scoped_s3.get("addressing_style") if isinstance(scoped_s3, dict) else None) or "auto"
    attempts = core.get_config_variable("max_attempts")
    return AwsSession(
        session=session,
        credentials=credentials,
        source=describe_credential_source(getattr(credentials, "method", None), profile),
        region=session.region_name or "us-east-1",
        endpoint=endpoint,
        path_style=style == "path" or (style == "auto" and bool(endpoint)),  # custom endpoints: path-style
        addressing_style=style,
        max_attempts=int(attempts) if attempts else None,
    )


def _aws_files() -> tuple[str, str]:
    return (
        os.environ.get("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"),
        os.environ.get("AWS_CONFIG_FILE", "~/.aws/config"),
    )


def describe_credential_source(method: str | None, profile: str | None) -> str:
    creds_file, config_file = _aws_files()
    where = {
        "env": "environment variables AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
        "shared-credentials-file": f"the shared credentials file {creds_file}",
        "config-file": f"the AWS config file {config_file}",
        "assume-role": "an assume-role profile",
        "sso": "AWS SSO",
        "custom-process": "a credential_process",
        "iam-role": "the instance metadata service",
        "container-role": "the container credentials endpoint",
        "explicit": "explicit keys",
    }.get(method or "", method or "an unknown source")
    return f"{where} (profile {profile!r})" if profile and method != "env" else where


def _missing_credentials_message(profile: str | None) -> str:
    creds_file, config_file = _aws_files()
    return (
        "no AWS credentials found; tried environment variables AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
        f"profile {profile or 'default'!r} in {creds_file} and {config_file}, container and instance metadata"
    )


def _configured_endpoint(session: Any) -> str | None:
    """What botocore would use without --endpoint-url: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, the profile."""
    core = session._session
    try:
        if core.get_config_variable("ignore_configured_endpoint_urls"):
            return None
        from botocore.configprovider import ConfiguredEndpointProvider

        provider = ConfiguredEndpointProvider(
            full_config=core.full_config, scoped_config=core.get_scoped_config(), client_name="s3"
        )
        return provider.provide()
    except Exception:  # private botocore API: fall back to the documented environment variables
        return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
