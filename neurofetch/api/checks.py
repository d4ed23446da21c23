"""`check_profile`: does a profile work? One cheap, real request per service, with the credentials the
profile would use.

LORIS: a login (and, if asked, the password and token kept in the keyring, as `login` does).
Allen, NeuroVault: a one-row listing. Datamint: the connection check of its own client, an authenticated
one-row project listing (reference/datamint.md §1.1). S3: a bucket listing, when boto3 is installed.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

from neurofetch.api.runner import choose_profile, given_secret, outside_running_loop
from neurofetch.credentials import KeyringUnavailable, Secret
from neurofetch.errors import ExitCode, NeurofetchError
from neurofetch.net import loop
from neurofetch.settings import Profile
from neurofetch.ui.logs import register_secret

CHECK_RETRIES = 1  # a set-up check should answer within seconds, not retry for minutes
CHECK_TIMEOUT = 20.0


@dataclass(frozen=True)
class CheckOutcome:
    """``ok`` is True (it worked), False (it did not) or None (nothing could be tried); ``message`` says why."""

    ok: bool | None
    message: str
    stored: bool = False
    exit_code: int = 0  # what `neurofetch-config test` exits with: 0, or the ExitCode of the problem


def check_profile(
    profile: str | Profile | None = None,
    *,
    url: str | None = None,
    service: str | None = None,
    config: str | None = None,
    username: str | None = None,
    secret: Secret | str | None = None,
    bucket: str | None = None,
    store: bool = False,
) -> CheckOutcome:
    """Try the profile for real with the credentials it would use (or ``secret``: a password or API key).
    With ``store``, a secret that worked is kept in the keyring. Problems are in the outcome, not raised."""
    chosen = choose_profile(profile, url, service, config=config)
    given = given_secret(secret) if isinstance(secret, str) else secret
    return outside_running_loop(lambda: _check(chosen, username, given, bucket, store))


def _check(
    profile: Profile, username: str | None, secret: Secret | None, bucket: str | None, store: bool
) -> CheckOutcome:
    quick = dataclasses.replace(
        profile, retries=CHECK_RETRIES, retry_wait_max=1.0, timeout=min(profile.timeout, CHECK_TIMEOUT)
    )
    try:
        if profile.service == "loris":
            return _check_loris(quick, username, secret, store)
        if profile.service == "datamint":
            return _check_datamint(quick, secret, store)
        if profile.service == "s3":
            return _check_s3(quick, bucket)
        return _check_public(quick)
    except NeurofetchError as exc:
        return CheckOutcome(False, str(exc), exit_code=int(exc.exit_code))


def _check_loris(profile: Profile, username: str | None, secret: Secret | None, store: bool) -> CheckOutcome:
    from neurofetch.api.auth import loris_login
    from neurofetch.credentials.loris import resolve_username, stored_password

    username = username or resolve_username(profile, None, no_input=True)
    password = secret or stored_password(profile, username)
    if password is None:
        return CheckOutcome(
            None,
            f"no password for {username} (type one in neurofetch-config, or set NEUROFETCH_PASSWORD)",
            exit_code=ExitCode.AUTH,
        )
    try:
        outcome = loris_login(profile, username, password, store=store)
    except KeyringUnavailable as exc:  # the login worked; only keeping the password failed
        return CheckOutcome(True, f"logged in to {profile.url} as {username}, but nothing was stored: {exc}")
    until = ""
    if outcome.expires_at:
        until = time.strftime(" (token valid until %Y-%m-%d %H:%M UTC)", time.gmtime(outcome.expires_at))
    return CheckOutcome(True, f"logged in to {profile.url} as {username}{until}", stored=outcome.stored)


def _check_datamint(profile: Profile, secret: Secret | None, store: bool) -> CheckOutcome:
    from neurofetch.api.auth import check_api_key
    from neurofetch.credentials.datamint import api_key_for
    from neurofetch.errors import AuthError

    try:
        key = secret or api_key_for(profile, no_input=True)
    except AuthError:
        return CheckOutcome(
            None, "no API key (type one in neurofetch-config, or set NEUROFETCH_API_KEY)", exit_code=ExitCode.AUTH
        )
    register_secret(key.value)
    message = f"the API key was accepted by {profile.url}"
    try:
        stored = check_api_key(profile, key, store=store)
    except KeyringUnavailable as exc:  # the key worked; only keeping it failed
        return CheckOutcome(True, f"{message}, but nothing was stored: {exc}")
    return CheckOutcome(True, message, stored=stored)


def _check_public(profile: Profile) -> CheckOutcome:
    if profile.service == "allen":
        body = _get_json(
            profile,
            "/api/v2/data/query.json",
            {"criteria": "model::Atlas,rma::options[num_rows$eq1]"},
            "Allen Brain Map atlas list",
        )
        if not isinstance(body, dict) or body.get("success") is not True:
            return CheckOutcome(
                False, f"{profile.url} answered, but not like the Allen Brain Map API", exit_code=ExitCode.UNREACHABLE
            )
        return CheckOutcome(
            True, f"the Allen Brain Map API at {profile.url} answered ({body.get('total_rows', '?')} atlases)"
        )
    body = _get_json(profile, "/api/collections/", {"limit": 1}, "NeuroVault collection list")
    if not isinstance(body, dict) or "count" not in body:
        return CheckOutcome(
            False, f"{profile.url} answered, but not like the NeuroVault API", exit_code=ExitCode.UNREACHABLE
        )
    return CheckOutcome(True, f"NeuroVault at {profile.url} answered ({body['count']} public collections)")


def _get_json(profile: Profile, path: str, params: dict[str, Any], what: str) -> Any:
    from neurofetch.errors import HttpStatusError
    from neurofetch.net.http import get_json, make_client, not_the_api, policy_for

    async def go() -> Any:
        async with make_client(profile.http) as client:
            try:
                return await get_json(client, profile.url + path, policy_for(profile.http), what=what, params=params)
            except HttpStatusError as exc:
                raise not_the_api(exc) from None

    return loop.run(go())  # already off any running loop: check_profile sees to it


def _check_s3(profile: Profile, bucket: str | None) -> CheckOutcome:
    import importlib.util

    if not bucket:
        return CheckOutcome(None, "no bucket given to list", exit_code=ExitCode.USAGE)
    if importlib.util.find_spec("boto3") is None:
        return CheckOutcome(None, "boto3 is not installed (pip install boto3)", exit_code=ExitCode.USAGE)
    from neurofetch.services.s3.bucket import S3Bucket, S3Settings

    settings = S3Settings(
        endpoint_url=profile.extra.get("endpoint_url") or profile.url or None,
        aws_profile=profile.extra.get("aws_profile"),
        region=profile.extra.get("region"),
        verify_tls=profile.verify_tls,
        jobs=1,
    )
    with S3Bucket(settings, bucket) as store:
        first = next(iter(store.list_pages("")), [])
        where = store.endpoint
    more = "+" if len(first) >= 1000 else ""
    return CheckOutcome(True, f"listed s3://{bucket}/ at {where}: {len(first)}{more} objects")
