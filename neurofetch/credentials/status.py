"""What a profile would use as secrets and where they come from (never their values), and forgetting them."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from neurofetch.credentials import API_KEY_ENTRY, secret_from_env, stored_secret

if TYPE_CHECKING:
    from neurofetch.settings import Profile

MASKED = "********"


def secret_status(profile: Profile) -> list[tuple[str, str]]:
    """Which secrets this profile would use and where they come from; never their values."""
    if profile.service == "s3":
        chain = f"aws_profile {profile.extra['aws_profile']}" if profile.extra.get("aws_profile") else "the AWS chain"
        return [("credentials", f"from {chain} (environment, ~/.aws/credentials, SSO, instance role)")]
    if profile.service == "datamint":
        from neurofetch.credentials.datamint import api_key_from_env

        env = api_key_from_env()
        if env:
            return [("api key", f"{MASKED} (from {env.source.removeprefix('env:')})")]
        stored = stored_secret(profile.keyring_service, API_KEY_ENTRY)
        return [("api key", f"{MASKED} (in the keyring)" if stored else "none stored")]
    if profile.service != "loris":
        return []
    return _loris_status(profile)


def _loris_status(profile: Profile) -> list[tuple[str, str]]:
    from neurofetch.credentials.loris import stored_username, token_key
    from neurofetch.net.auth import Token

    env = secret_from_env("password")
    user = profile.username or stored_username(profile)
    rows = []
    if env:
        rows.append(("password", f"{MASKED} (from NEUROFETCH_PASSWORD)"))
    elif user and stored_secret(profile.keyring_service, user):
        rows.append(("password", f"{MASKED} (in the keyring, for {user})"))
    else:
        rows.append(("password", "none stored"))
    token = stored_secret(profile.keyring_service, token_key(user)) if user else None
    if token:
        expiry = Token.from_jwt(token.value).expires_at
        when = (
            ""
            if expiry is None
            else time.strftime(
                ", valid until %Y-%m-%d %H:%M UTC" if expiry > time.time() else ", expired %Y-%m-%d %H:%M UTC",
                time.gmtime(expiry),
            )
        )
        rows.append(("token", f"{MASKED} (in the keyring{when})"))
    return rows


def forget_secrets(profile: Profile, username: str | None = None) -> list[str]:
    """Remove what neurofetch keeps in the keyring for this profile's server; returns what was removed."""
    if profile.service == "loris":
        from neurofetch.credentials.loris import forget_login

        return forget_login(profile, username)
    if profile.service == "datamint":
        from neurofetch.credentials.datamint import forget_api_key

        return forget_api_key(profile)
    return []


def secret_in_environment(profile: Profile) -> bool:
    """Whether the environment gives this profile's secret (so a login needs no keyring to be useful)."""
    if profile.service == "datamint":
        from neurofetch.credentials.datamint import api_key_from_env

        return api_key_from_env() is not None
    return secret_from_env("password") is not None
