"""`neurofetch login` and `neurofetch logout`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from neurofetch.cli.common import global_options, load_profile

if TYPE_CHECKING:
    from neurofetch.errors import AuthError
    from neurofetch.settings import Profile


LOGIN_EXAMPLES = """
    neurofetch -p preventad login --username jdoe
    printf '%s\\n' "$PASSWORD" | neurofetch -p preventad login -u jdoe --password-stdin
    neurofetch -p datamint login --api-key-stdin < key.txt
"""


LOGOUT_EXAMPLES = """
    neurofetch -p preventad logout
    neurofetch logout -p preventad --username jdoe
"""


def register(app: typer.Typer) -> None:
    app.command("login", epilog=LOGIN_EXAMPLES)(login)
    app.command("logout", epilog=LOGOUT_EXAMPLES)(logout)


def login(
    ctx: typer.Context,
    username: Annotated[str | None, typer.Option("--username", "-u", envvar="NEUROFETCH_USERNAME", metavar="NAME",
                                                 help="Account name (LORIS).")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin",
                                                 help="Read the password from standard input.")] = False,
    api_key_stdin: Annotated[bool, typer.Option("--api-key-stdin",
                                                help="Read the API key from standard input (Datamint).")] = False,
    no_store: Annotated[bool, typer.Option("--no-store", help="Check the credentials against the server and "
                                                              "keep nothing (machines without a keyring).")] = False,
) -> None:
    """Log in and keep the credentials in the OS keyring, so later runs (cron too) log in by themselves.

    On a terminal the password (Datamint: the API key) is asked for; otherwise use --password-stdin or
    NEUROFETCH_PASSWORD (Datamint: --api-key-stdin or NEUROFETCH_API_KEY / DATAMINT_API_KEY).
    Without a usable keyring nothing is asked: use --no-store to check the password, and
    NEUROFETCH_PASSWORD (Datamint: NEUROFETCH_API_KEY) for unattended runs.
    A secret is never accepted as a command-line value.
    """
    from neurofetch.credentials import keyring_problem
    from neurofetch.errors import UsageError
    from neurofetch.operations.loris import login_loris, password_for_login, resolve_username
    from neurofetch.ui.messages import logged_in

    options = global_options(ctx)
    profile = _profile(ctx)
    if profile.service not in ("loris", "datamint"):
        raise UsageError(f"login is not available for {profile.service} profiles yet")
    no_keyring = None if no_store else keyring_problem(profile.keyring_service)
    # Without a keyring nothing is asked: a secret typed in would only be thrown away.
    given = password_stdin or api_key_stdin or _secret_in_environment(profile)
    if no_keyring and not given:
        raise _keyring_error(profile, no_keyring, checked=False)
    if profile.service == "datamint":
        from neurofetch.operations.datamint import key_for_login, login_datamint
        from neurofetch.ui.output import print_message

        stored = login_datamint(profile, key_for_login(api_key_stdin, no_input=options.no_input),
                                store=not (no_store or no_keyring))
        if no_keyring:
            raise _keyring_error(profile, no_keyring, checked=True)
        print_message(f"Logged in to {profile.url} with the API key" + (
            "; it is kept in the keyring, later runs use it by themselves." if stored else "; nothing was stored."))
        return
    name = resolve_username(profile, username, no_input=options.no_input)
    password = password_for_login(password_stdin, no_input=options.no_input)
    outcome = login_loris(profile, name, password, store=not (no_store or no_keyring))
    if no_keyring:
        raise _keyring_error(profile, no_keyring, checked=True)
    logged_in(profile.url, outcome.username, outcome.expires_at, stored=outcome.stored)


def _secret_in_environment(profile: Profile) -> bool:
    import os

    from neurofetch.credentials import secret_from_env

    if profile.service == "datamint":
        return secret_from_env("api_key", os.environ, "DATAMINT_API_KEY") is not None
    return secret_from_env("password") is not None


def _keyring_error(profile: Profile, problem: str, *, checked: bool) -> AuthError:
    """One line: what works instead of the keyring, for this run and for cron."""
    from neurofetch.errors import AuthError

    secret, env = ("API key", "NEUROFETCH_API_KEY") if profile.service == "datamint" else (
        "password", "NEUROFETCH_PASSWORD")
    works = f"the {secret} works, but " if checked else ""
    return AuthError(f"{works}there is no usable keyring to keep it ({problem}): `neurofetch login --no-store` "
                     f"checks the {secret} without keeping it; for cron, set {env} in the job's environment")


def logout(
    ctx: typer.Context,
    username: Annotated[str | None, typer.Option("--username", "-u", envvar="NEUROFETCH_USERNAME", metavar="NAME",
                                                 help="Account name (default: the last login).")] = None,
) -> None:
    """Remove the password and token that `login` kept in the keyring for this profile."""
    from neurofetch.operations.loris import logout_loris
    from neurofetch.ui.messages import logged_out

    profile = _profile(ctx)
    if profile.service == "datamint":
        from neurofetch.operations.datamint import logout_datamint

        logged_out(profile.url, logout_datamint(profile))
        return
    logged_out(profile.url, logout_loris(profile, username))


def _profile(ctx: typer.Context) -> Profile:
    """The official Datamint client's DATAMINT_API_URL/DATAMINT_API_KEY select a Datamint profile
    when nothing else is chosen."""
    import os

    if os.environ.get("DATAMINT_API_URL") or os.environ.get("DATAMINT_API_KEY"):
        from neurofetch.cli.datamint_profile import datamint_profile

        return datamint_profile(ctx)
    return load_profile(ctx)
