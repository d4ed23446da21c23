"""`login` and `logout`: check credentials against the server and keep them in the OS keyring (or forget them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from neurofetch.api.runner import choose_profile, given_secret, outside_running_loop
from neurofetch.errors import AuthError, UsageError

if TYPE_CHECKING:
    from neurofetch.credentials import Secret
    from neurofetch.settings import Profile


@dataclass(frozen=True)
class LoginOutcome:
    """Who logged in where; ``expires_at`` is the LORIS token's expiry (epoch seconds), None for an API key."""

    service: str
    url: str
    username: str | None
    expires_at: float | None
    stored: bool


@dataclass(frozen=True)
class LogoutOutcome:
    url: str
    removed: list[str]  # what was removed from the keyring: "password", "token", "API key", ...


def login(
    *,
    profile: str | Profile | None = None,
    url: str | None = None,
    service: str | None = None,
    config: str | None = None,
    username: str | None = None,
    password: str | None = None,
    api_key: str | None = None,
    store: bool | None = None,
    no_input: bool = True,
) -> LoginOutcome:
    """Log in (LORIS) or check the API key (Datamint) and keep the secret in the keyring for later runs.

    The secret is ``password``/``api_key``, else NEUROFETCH_PASSWORD / NEUROFETCH_API_KEY, else a prompt on a
    terminal (with ``no_input=False``). ``store`` defaults to keeping a secret that was not passed as an
    argument; a secret passed as an argument is kept only with ``store=True``."""
    from neurofetch.credentials import keyring_problem
    from neurofetch.credentials.status import secret_in_environment

    chosen = _auth_profile(profile, url, service, config)
    if chosen.service not in ("loris", "datamint"):
        raise UsageError(f"login is not available for {chosen.service} profiles yet")
    given = password if chosen.service == "loris" else api_key
    keep = store if store is not None else given is None
    no_keyring = keyring_problem(chosen.keyring_service) if keep else None
    # Without a keyring nothing is asked: a secret typed in would only be thrown away.
    if no_keyring and given is None and not secret_in_environment(chosen):
        raise _keyring_error(chosen, no_keyring, checked=False)
    keep = keep and not no_keyring
    if chosen.service == "datamint":
        from neurofetch.credentials.datamint import key_for_login

        key = given_secret(api_key) or key_for_login(False, no_input=no_input)
        outcome = LoginOutcome("datamint", chosen.url, None, None, check_api_key(chosen, key, store=keep))
    else:
        from neurofetch.credentials.loris import password_for_login, resolve_username

        name = resolve_username(chosen, username, no_input=no_input)
        secret = given_secret(password) or password_for_login(False, no_input=no_input)
        outcome = loris_login(chosen, name, secret, store=keep)
    if no_keyring:
        raise _keyring_error(chosen, no_keyring, checked=True)
    return outcome


def logout(
    *,
    profile: str | Profile | None = None,
    url: str | None = None,
    service: str | None = None,
    config: str | None = None,
    username: str | None = None,
) -> LogoutOutcome:
    """Remove the password and token (LORIS) or API key (Datamint) that `login` kept for this profile's server."""
    from neurofetch.credentials.status import forget_secrets

    chosen = _auth_profile(profile, url, service, config)
    return LogoutOutcome(chosen.url, forget_secrets(chosen, username))


def loris_login(profile: Profile, username: str, password: Secret, *, store: bool) -> LoginOutcome:
    """Log in; with ``store`` keep the password and the token in the keyring for unattended runs."""
    from neurofetch.credentials.loris import keep_login, loris_api
    from neurofetch.net import loop
    from neurofetch.net.auth import Token
    from neurofetch.net.http import make_client, policy_for
    from neurofetch.services.loris.source import login as post_login
    from neurofetch.ui.logs import register_secret

    register_secret(password.value)
    api = loris_api(profile)

    async def go() -> Token:
        async with make_client(profile.http) as client:
            return await post_login(client, await api.resolve(client), username, password, policy_for(profile.http))

    token = outside_running_loop(lambda: loop.run(go()))
    register_secret(token.value.value)
    if store:
        keep_login(profile, username, password, token.value.value)
    return LoginOutcome("loris", profile.url, username, token.expires_at, store)


def check_api_key(profile: Profile, key: Secret, *, store: bool) -> bool:
    """Check the key against the server; with ``store`` keep it in the keyring. Returns whether it was kept."""
    from neurofetch.credentials.datamint import keep_api_key
    from neurofetch.services.datamint.publish import with_api

    outside_running_loop(lambda: with_api(profile.url, profile.http, key, lambda api: api.check_key()))
    if store:
        keep_api_key(profile, key)
    return store


def _auth_profile(profile: str | Profile | None, url: str | None, service: str | None, config: str | None) -> Profile:
    """The official Datamint client's DATAMINT_API_URL/DATAMINT_API_KEY select a Datamint profile when nothing
    else is chosen."""
    from neurofetch.settings import datamint_environment

    return choose_profile(
        profile, url, service, config=config, only_service="datamint" if datamint_environment() else None
    )


def _keyring_error(profile: Profile, problem: str, *, checked: bool) -> AuthError:
    """One line: what works instead of the keyring, for this run and for cron."""
    secret, env = (
        ("API key", "NEUROFETCH_API_KEY") if profile.service == "datamint" else ("password", "NEUROFETCH_PASSWORD")
    )
    works = f"the {secret} works, but " if checked else ""
    return AuthError(
        f"{works}there is no usable keyring to keep it ({problem}): `neurofetch login --no-store` "
        f"checks the {secret} without keeping it; for cron, set {env} in the job's environment"
    )
