"""LORIS login, logout and mirror as plain functions: what the CLI calls, and what a notebook can call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from neurofetch.credentials import (
    Secret,
    is_interactive,
    keyring_delete,
    keyring_set,
    prompt_secret,
    secret_from_env,
    stored_secret,
)
from neurofetch.errors import AuthError, UsageError
from neurofetch.net import loop
from neurofetch.net.auth import RenewingBearerAuth, Token
from neurofetch.net.http import make_client, policy_for
from neurofetch.services.loris.source import LorisSelection, LorisSource, login
from neurofetch.settings import Profile
from neurofetch.transfer.events import Reporter
from neurofetch.transfer.mirror import MirrorOptions, run_mirror
from neurofetch.transfer.results import RunResult
from neurofetch.ui.logs import register_secret

if TYPE_CHECKING:
    import httpx
    from rich.console import Console

USER_KEY = "(default user)"


def _token_key(username: str) -> str:
    return f"{username}:token"


@dataclass(frozen=True)
class LoginOutcome:
    username: str
    expires_at: float | None
    stored: bool


def resolve_username(profile: Profile, explicit: str | None, *, no_input: bool) -> str:
    """--username > profile/NEUROFETCH_USERNAME > the user of the last login > prompt on a terminal."""
    username = explicit or profile.username or _stored_username(profile)
    if username:
        return username
    if is_interactive(no_input):
        from rich.prompt import Prompt

        answer = Prompt.ask("LORIS username", console=_stderr_console()).strip()
        if answer:
            return answer
    raise AuthError("no LORIS username: run `neurofetch login --username NAME`, set username in the profile, "
                    "or set NEUROFETCH_USERNAME")


def _stderr_console() -> Console:
    from neurofetch.ui.console import make_console

    return make_console()


def _stored_username(profile: Profile) -> str | None:
    secret = stored_secret(profile.keyring_service, USER_KEY)
    return secret.value if secret else None


def login_loris(profile: Profile, username: str, password: Secret, *, store: bool = True) -> LoginOutcome:
    """Log in; on success keep the password and the token in the keyring for unattended runs."""
    register_secret(password.value)

    async def go() -> Token:
        async with make_client(profile.http) as client:
            return await login(client, profile.url, username, password, policy_for(profile.http))

    token = loop.run(go())
    register_secret(token.value.value)
    if store:
        keyring_set(profile.keyring_service, username, password.value)
        keyring_set(profile.keyring_service, _token_key(username), token.value.value)
        keyring_set(profile.keyring_service, USER_KEY, username)
    return LoginOutcome(username, token.expires_at, store)


def logout_loris(profile: Profile, username: str | None) -> list[str]:
    """Remove what login stored; returns what was removed."""
    username = username or profile.username or _stored_username(profile)
    removed = []
    if username:
        for key, what in ((username, "password"), (_token_key(username), "token")):
            if keyring_delete(profile.keyring_service, key):
                removed.append(what)
    if keyring_delete(profile.keyring_service, USER_KEY):
        removed.append("default user")
    return removed


def password_for_login(password_stdin: bool, *, no_input: bool) -> Secret:
    from neurofetch.credentials import read_secret_stdin

    if password_stdin:
        return read_secret_stdin("password")
    env = secret_from_env("password")
    if env:
        return env
    if is_interactive(no_input):
        return prompt_secret("LORIS password")
    raise AuthError("no password: this is not a terminal, so pipe it with --password-stdin "
                    "or set NEUROFETCH_PASSWORD")


def mirror_auth(profile: Profile, *, no_input: bool, password: Secret | None = None) -> RenewingBearerAuth:
    """The mirror's credentials: a fresh token if we have one, and the password to log in again."""
    username = resolve_username(profile, None, no_input=no_input)
    password = password or secret_from_env("password") or stored_secret(profile.keyring_service, username)
    token_secret = secret_from_env("token") or stored_secret(profile.keyring_service, _token_key(username))
    token = Token.from_jwt(token_secret.value, token_secret.source) if token_secret else None
    if token is not None and not token.fresh():
        token = None
    if password is None and token is None:
        if is_interactive(no_input):
            password = prompt_secret(f"LORIS password for {username}")
        else:
            raise AuthError(f"no LORIS credentials for {username!r}: run `neurofetch login`, or set "
                            "NEUROFETCH_PASSWORD (or NEUROFETCH_TOKEN) for unattended runs")
    for secret in (password, token.value if token else None):
        if secret:
            register_secret(secret.value)
    policy = policy_for(profile.http)
    if password is None:
        return RenewingBearerAuth(None, token)
    pw = password

    async def obtain(client: httpx.AsyncClient) -> Token:
        renewed = await login(client, profile.url, username, pw, policy)
        register_secret(renewed.value.value)
        return renewed

    return RenewingBearerAuth(obtain, token)


def mirror_loris(profile: Profile, selection: LorisSelection, options: MirrorOptions, *,
                 reporter: Reporter | None = None, no_input: bool = True,
                 password: Secret | None = None) -> RunResult:
    if profile.service != "loris":
        raise UsageError(f"profile {profile.name!r} is a {profile.service} profile, not loris")
    auth = mirror_auth(profile, no_input=no_input, password=password)
    source = LorisSource(profile.url, auth, selection)
    return run_mirror("mirror", source, profile.service, profile.http, options, reporter)
