"""LORIS credentials: the user name, the password and the token a run or a login uses, and what
`login` keeps in the keyring (password, token, the default user) under the profile's keyring service."""

from __future__ import annotations

from typing import TYPE_CHECKING

from neurofetch.credentials import (
    Secret,
    is_interactive,
    keyring_delete,
    keyring_set,
    prompt_secret,
    read_secret_stdin,
    secret_from_env,
    stored_secret,
)
from neurofetch.errors import AuthError
from neurofetch.ui.logs import register_secret

if TYPE_CHECKING:
    from neurofetch.net.auth import RenewingBearerAuth, Token
    from neurofetch.net.http import AsyncClient
    from neurofetch.services.loris.source import LorisSelection, LorisSource
    from neurofetch.services.loris.versions import LorisApi
    from neurofetch.settings import Profile

USER_KEY = "(default user)"


def token_key(username: str) -> str:
    return f"{username}:token"


def resolve_username(profile: Profile, explicit: str | None, *, no_input: bool) -> str:
    """--username > profile/NEUROFETCH_USERNAME > the user of the last login > prompt on a terminal."""
    username = explicit or profile.username or stored_username(profile)
    if username:
        return username
    if is_interactive(no_input):
        from neurofetch.ui.prompts import ask_text

        answer = ask_text("LORIS username")
        if answer:
            return answer
    raise AuthError(
        "no LORIS username: run `neurofetch login --username NAME`, set username in the profile, "
        "or set NEUROFETCH_USERNAME"
    )


def stored_username(profile: Profile) -> str | None:
    secret = stored_secret(profile.keyring_service, USER_KEY)
    return secret.value if secret else None


def stored_password(profile: Profile, username: str) -> Secret | None:
    """NEUROFETCH_PASSWORD, else the keyring's password for ``username``."""
    return secret_from_env("password") or stored_secret(profile.keyring_service, username)


def keep_login(profile: Profile, username: str, password: Secret, token: str) -> None:
    """What a login keeps for unattended runs: the password, the token and who logged in last."""
    keyring_set(profile.keyring_service, username, password.value)
    keyring_set(profile.keyring_service, token_key(username), token)
    keyring_set(profile.keyring_service, USER_KEY, username)


def forget_login(profile: Profile, username: str | None) -> list[str]:
    """Remove what login stored; returns what was removed."""
    username = username or profile.username or stored_username(profile)
    removed = []
    if username:
        for key, what in ((username, "password"), (token_key(username), "token")):
            if keyring_delete(profile.keyring_service, key):
                removed.append(what)
    if keyring_delete(profile.keyring_service, USER_KEY):
        removed.append("default user")
    return removed


def password_for_login(password_stdin: bool, *, no_input: bool) -> Secret:
    if password_stdin:
        return read_secret_stdin("password")
    env = secret_from_env("password")
    if env:
        return env
    if is_interactive(no_input):
        return prompt_secret("LORIS password")
    raise AuthError("no password: this is not a terminal, so pipe it with --password-stdin or set NEUROFETCH_PASSWORD")


def loris_api(profile: Profile) -> LorisApi:
    """The profile's API base and version (from the url, the key api_version, or asked of the server)."""
    from neurofetch.net.http import policy_for
    from neurofetch.services.loris.versions import LorisApi, check_api_version

    return LorisApi(
        profile.url, check_api_version(profile.name, profile.extra.get("api_version")), policy_for(profile.http)
    )


def loris_source(
    profile: Profile, selection: LorisSelection, *, no_input: bool, password: Secret | None = None
) -> LorisSource:
    from neurofetch.services.loris.source import LorisSource

    api = loris_api(profile)
    return LorisSource(api, mirror_auth(profile, no_input=no_input, password=password, api=api), selection)


def mirror_auth(
    profile: Profile, *, no_input: bool, password: Secret | None = None, api: LorisApi | None = None
) -> RenewingBearerAuth:
    """The mirror's credentials: a fresh token if we have one, and the password to log in again."""
    from neurofetch.net.auth import RenewingBearerAuth, Token
    from neurofetch.net.http import policy_for
    from neurofetch.services.loris.source import login

    username = resolve_username(profile, None, no_input=no_input)
    password = password or stored_password(profile, username)
    token_secret = secret_from_env("token") or stored_secret(profile.keyring_service, token_key(username))
    token: Token | None = Token.from_jwt(token_secret.value, token_secret.source) if token_secret else None
    if token is not None and not token.fresh():
        token = None
    if password is None and token is None:
        if is_interactive(no_input):
            password = prompt_secret(f"LORIS password for {username}")
        else:
            raise AuthError(
                f"no LORIS credentials for {username!r}: run `neurofetch login`, or set "
                "NEUROFETCH_PASSWORD (or NEUROFETCH_TOKEN) for unattended runs"
            )
    for secret in (password, token.value if token else None):
        if secret:
            register_secret(secret.value)
    policy = policy_for(profile.http)
    if password is None:
        return RenewingBearerAuth(None, token)
    pw = password
    where = api or loris_api(profile)

    async def obtain(client: AsyncClient) -> Token:
        renewed = await login(client, await where.resolve(client), username, pw, policy)
        register_secret(renewed.value.value)
        return renewed

    return RenewingBearerAuth(obtain, token)
